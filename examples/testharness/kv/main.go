// Command kv is a key-value store in memory, served over TCP on :7000 with
// a line protocol: "SET key value" answers "OK", "GET key" answers
// "VALUE value" or "NIL", "PING" answers "PONG".
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
)

func main() {
	ln, err := net.Listen("tcp", ":7000")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kv listening on :7000")
	var mu sync.Mutex
	data := map[string]string{}
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer conn.Close()
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				cmd, rest, _ := strings.Cut(sc.Text(), " ")
				key, value, _ := strings.Cut(rest, " ")
				mu.Lock()
				switch cmd {
				case "PING":
					fmt.Fprintln(conn, "PONG")
				case "SET":
					data[key] = value
					fmt.Fprintln(conn, "OK")
				case "GET":
					if v, ok := data[key]; ok {
						fmt.Fprintln(conn, "VALUE", v)
					} else {
						fmt.Fprintln(conn, "NIL")
					}
				default:
					fmt.Fprintln(conn, "ERR unknown command", cmd)
				}
				mu.Unlock()
			}
		}()
	}
}
