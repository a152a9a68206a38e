// Package testharness is an example of testing a service with hulltest: an
// HTTP front end (./web) with a key-value store (./kv) behind it, each a
// small static Go program compiled by the test, run as two containers on a
// network of the test's own. Its tests are in testharness_test.go:
//
//	sudo go test ./examples/testharness
package testharness
