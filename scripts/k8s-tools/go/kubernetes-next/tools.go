//go:build tools

// Package tools pins the Kubernetes components of the minor an upgrade goes to, built by
// npm run k8s-tools (scripts/k8s-tools/build.ts ensureUpgradeTarget) for the cluster upgrade test.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
