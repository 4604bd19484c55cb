"""Transport security and identities: TLS with rotation, tokens and client certificates, RPC groups.

One layer that every protocol goes through (an interceptor plus settings), never checks inside
servicers: groups.py says which group an RPC needs, auth.py who a caller is, interceptor.py
lets a call through or ends it, tls.py keeps the certificates fresh. docs/security.md.
"""
