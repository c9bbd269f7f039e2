// Command mongoproxy is the entry point of the test MongoDB image that
// deploy/test.sh builds: it runs the test MongoDB server of
// internal/testmongo (FerretDB over SQLite), which listens on 127.0.0.1
// only, and forwards the container's port to it, so that other containers
// reach it as they would reach mongod.
//
//	mongoproxy [-listen :27017] [-server /testmongo] [-dir /data/db] [-port 27018]
//
// It starts accepting once the server does, and stops the server on
// SIGTERM or SIGINT (it exits with the server). It is for tests only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

func main() {
	listen := flag.String("listen", ":27017", "address to accept MongoDB clients on")
	server := flag.String("server", "/testmongo", "the testmongo binary")
	dir := flag.String("dir", "/data/db", "testmongo's data folder")
	port := flag.Int("port", 27018, "testmongo's port on 127.0.0.1")
	flag.Parse()
	if err := run(*listen, *server, *dir, *port); err != nil {
		fmt.Fprintln(os.Stderr, "mongoproxy:", err)
		os.Exit(1)
	}
}

func run(listen, server, dir string, port int) error {
	cmd := exec.Command(server, "-dir", dir, "-port", strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	// testmongo exits when its standard input closes: hold it open for as
	// long as this process lives.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	// testmongo prints its URI once it accepts connections.
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		return fmt.Errorf("testmongo exited before serving: %v", cmd.Wait())
	}
	fmt.Println("testmongo serving:", sc.Text())
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("forwarding", ln.Addr(), "to 127.0.0.1:"+strconv.Itoa(port))
	backend := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go forward(c, backend)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	select {
	case s := <-sigs:
		_ = cmd.Process.Signal(s)
		err = <-exited
	case err = <-exited:
	}
	runtime.KeepAlive(stdin)
	if err != nil {
		return fmt.Errorf("testmongo: %w", err)
	}
	return nil
}

// forward copies between a client and the server until either closes.
func forward(c net.Conn, backend string) {
	defer c.Close()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
}
