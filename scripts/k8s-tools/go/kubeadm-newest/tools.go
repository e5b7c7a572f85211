//go:build tools

// Package tools pins kubeadm of the newest Kubernetes minor, built alone to validate the
// generated kubeadm documents (scripts/k8s-tools/build.ts ensureNewestKubeadm).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
