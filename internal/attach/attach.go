// Package attach connects clients to a running container's standard
// streams, like `docker attach`, without a daemon: whoever holds the
// container's stdio (the owning process, or the shim of a detached
// container) serves a unix socket in the container's directory,
// and any process on the same root dials it.
//
// The protocol is framed both ways: an 8-byte header (type, 3 zero bytes,
// big-endian uint32 length) and the payload. The client first sends a
// Hello frame; then the server sends Stdout and Stderr frames of output
// produced from that moment on, and the client sends Stdin data, a
// StdinClose and Resize frames. The server closes the connection when the
// container's output has ended (it exited); the client closes it to
// detach, which leaves the container running.
package attach

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SocketName is the socket's name in the container's directory.
const SocketName = "attach.sock"

// Frame types.
const (
	FrameStdin      byte = 0 // client -> server: input
	FrameStdout     byte = 1 // server -> client
	FrameStderr     byte = 2 // server -> client
	FrameStdinClose byte = 3 // client -> server: close the container's stdin
	FrameResize     byte = 4 // client -> server: rows, cols (2 x uint16 BE)
	FrameHello      byte = 5 // client -> server, first: JSON Hello
)

// maxFrame bounds a frame's payload: larger ones are a protocol error.
const maxFrame = 1 << 20

// Hello is what the client wants.
type Hello struct {
	Stdout bool `json:"stdout"`
	Stderr bool `json:"stderr"`
}

func writeFrame(w io.Writer, typ byte, p []byte) error {
	buf := make([]byte, 8, 8+len(p))
	buf[0] = typ
	binary.BigEndian.PutUint32(buf[4:], uint32(len(p)))
	_, err := w.Write(append(buf, p...))
	return err
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[0], p, nil
}

func helloFrame(h Hello) []byte {
	data, _ := json.Marshal(h)
	return data
}

func resizeFrame(rows, cols uint16) []byte {
	var p [4]byte
	binary.BigEndian.PutUint16(p[:2], rows)
	binary.BigEndian.PutUint16(p[2:], cols)
	return p[:]
}
