"""The objects of the Push API and the rules for reading their values (SPEC 3.1 and 4)."""
