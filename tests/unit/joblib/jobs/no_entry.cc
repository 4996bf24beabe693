// A shared object that is not a Strom job library: it has no STROM_JOB entry.

extern "C" int notAStromJob() { return 42; }
