"""`ivr evaluate`: how well the screening policy filters, measured on a seeded simulated month.

    population  the month's ground truth: who calls, when, and who they really are
    run         the month played through the real screen and flag, in virtual time, on a throwaway Redis
    metrics     the figures (precision, recall, false blocks, time to block, ...) and the detection targets
"""
