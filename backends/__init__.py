"""Runtimes behind one small synchronous interface, the hardware probe and the selection policy.

Nothing here imports grpc or the generated protocol modules.
"""
