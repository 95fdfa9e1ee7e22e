"""Provides studies: a set of runs that differ in chosen settings, each repeated over seeds, run from a queue and
summed up in one table (definition, folder, runner, results, report). No Textual."""
