// Command app is the test application of package compose's tests, built
// statically by them into a busybox image:
//
//	app counter ADDR FILE   a TCP server: each connection increments the
//	                        number in FILE and gets the new value back
//	app web ADDR COUNTER    an HTTP server: each request asks COUNTER
//	                        (host:port) for a number and answers
//	                        "count N from HOSTNAME"
//	app stamp FILE          appends the time (UnixNano) to FILE and sleeps
//	app sleep               sleeps until SIGTERM/SIGINT, then exits 0
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		os.Exit(0)
	}()
	switch os.Args[1] {
	case "counter":
		counter(os.Args[2], os.Args[3])
	case "web":
		web(os.Args[2], os.Args[3])
	case "stamp":
		f, err := os.OpenFile(os.Args[2], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(f, time.Now().UnixNano())
		f.Close()
		select {}
	case "sleep":
		select {}
	}
}

func counter(addr, file string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	fmt.Println("counter listening on", addr)
	var mu sync.Mutex
	for {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		mu.Lock()
		b, _ := os.ReadFile(file)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		n++
		os.WriteFile(file, []byte(strconv.Itoa(n)), 0o644)
		mu.Unlock()
		fmt.Fprintln(c, n)
		c.Close()
	}
}

func web(addr, counterAddr string) {
	host, _ := os.Hostname()
	fmt.Println("web listening on", addr)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", counterAddr, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil && err != io.EOF {
			http.Error(w, err.Error(), 502)
			return
		}
		fmt.Fprintf(w, "count %s from %s\n", strings.TrimSpace(line), host)
	})
	panic(http.ListenAndServe(addr, nil))
}
