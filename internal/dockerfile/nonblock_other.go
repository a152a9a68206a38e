//go:build !unix

package dockerfile

const nonBlock = 0
