//go:build tools

// Package tools pins the main packages built by npm run k8s-tools (scripts/k8s-tools/build.ts).
package tools

import (
	_ "github.com/cri-o/cri-o/cmd/crio"
)
