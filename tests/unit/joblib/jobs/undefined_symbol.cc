// A shared object that needs a symbol no process defines, as a job built against another Strom
// would.

extern "C" int strom_symbol_that_does_not_exist();

extern "C" int callsMissing() { return strom_symbol_that_does_not_exist(); }
