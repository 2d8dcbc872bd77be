"""The policy engine: raw Kubernetes objects in, mTLS posture out. Standard library only."""
