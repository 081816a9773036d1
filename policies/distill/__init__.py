"""DAgger distillation: the scripted lift expert (privileged state, sim only) labels every state a pixel student
visits; the student (wrist pixels + joint readings, DrQ-v2's encoder and actor, so it exports the same way) regresses
the labels. Registered as ``algo=distill`` in policies/algos/."""
