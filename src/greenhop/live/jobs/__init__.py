"""Training jobs on the cluster: the trainer protocol (``trainer``) and examples, exact
checkpoints (``checkpoint``), their content-addressed chunks and the per-site chunk stores
(``chunks``), their verified transfer (``transfer``), the Ray actor (``actor``), the one
checkpoint store (``store``), the driver's handle on every job (``driver``:
:class:`~greenhop.live.jobs.driver.LiveJobs`), and a scenario job's live table (``spec``)."""
