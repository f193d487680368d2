# compare_lib — the pieces of bench/compare (Switchboard against the seed):
# stacks.py starts and stops the servers, cases.py holds the plans and runs
# the bench, report.py builds the table. bench/compare puts this directory's
# parent on sys.path and imports them; bench/consumers/ reuses stacks.py
# (the same servers, started and stopped the same way).
