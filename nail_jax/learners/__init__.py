"""Learners: SAC with the reference policy ``pi_ref``, the discriminator, imitation rewards."""
