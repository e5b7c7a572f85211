// netbench measures TCP throughput for the pod-network benchmark (test/bench/cluster-network.ts):
//
//	netbench serve PORT        accept one connection, read it to EOF, print "BYTES SECONDS"
//	                           (from the first byte to EOF) and exit
//	netbench send HOST:PORT N  connect and write N bytes, then close
//
// The same static binary runs in a pod (from a signed image) and in a node's own network namespace.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "netbench:", err)
	os.Exit(1)
}

func serve(port string) {
	listener, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fail(err)
	}
	fmt.Println("listening")
	conn, err := listener.Accept()
	if err != nil {
		fail(err)
	}
	buffer := make([]byte, 1<<20)
	n, err := conn.Read(buffer)
	if err != nil {
		fail(err)
	}
	started := time.Now()
	rest, err := io.CopyBuffer(io.Discard, conn, buffer)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d %.6f\n", int64(n)+rest, time.Since(started).Seconds())
}

func send(address, count string) {
	total, parseErr := strconv.ParseInt(count, 10, 64)
	if parseErr != nil || total <= 0 {
		fail(fmt.Errorf("byte count %q", count))
	}
	// The server may still be starting: retry a refused connection for 30 s.
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = net.DialTimeout("tcp", address, 5*time.Second); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fail(err)
	}
	buffer := make([]byte, 1<<20)
	for sent := int64(0); sent < total; {
		chunk := buffer
		if total-sent < int64(len(chunk)) {
			chunk = chunk[:total-sent]
		}
		n, writeErr := conn.Write(chunk)
		if writeErr != nil {
			fail(writeErr)
		}
		sent += int64(n)
	}
	if err := conn.Close(); err != nil {
		fail(err)
	}
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "serve":
		serve(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "send":
		send(os.Args[2], os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "usage: netbench serve PORT | netbench send HOST:PORT BYTES")
		os.Exit(2)
	}
}
