package spec

import "testing"

// BenchmarkGenerate measures a spec for a non-root user: it is on every container start.
func BenchmarkGenerate(b *testing.B) {
	rootfs := fakeRootfs(b, testPasswd, testGroup)
	o := baseOptions()
	o.User = "alice"
	for b.Loop() {
		if _, err := Generate(rootfs, o); err != nil {
			b.Fatal(err)
		}
	}
}
