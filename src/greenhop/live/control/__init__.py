"""The live world: the controller that runs the policies on a wall clock (``controller``), its
SQLite state (``state``), its energy ledger (``ledger``), a live run read back as a run record
(``results``), a scenario ready for a live run (``scenario``) and the links' bandwidth
estimates (``links``)."""
