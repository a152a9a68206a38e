package hulltest

import (
	"io"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
	"github.com/sirupsen/logrus"
)

// Registry starts a throwaway registry (distribution's, in this process,
// storing in memory) on a random port of 127.0.0.1 and returns its
// "127.0.0.1:port", the registry part of references to push and pull
// ("127.0.0.1:port/app:1"). hull speaks plain HTTP to loopback registries,
// so no option is needed. It needs no root and no network beyond loopback,
// and stops when the test ends. Its logs are discarded: distribution logs
// through logrus' standard logger, whose output this sets to io.Discard.
func Registry(t testing.TB) string {
	t.Helper()
	logrus.SetOutput(io.Discard)
	return testutil.StartRegistry(t).Host
}
