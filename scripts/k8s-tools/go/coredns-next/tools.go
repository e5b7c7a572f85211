//go:build tools

// Package tools pins the main packages of the upgrade target built by npm run k8s-tools (scripts/k8s-tools/build.ts ensureUpgradeTarget).
package tools

import (
	_ "github.com/coredns/coredns"
)
