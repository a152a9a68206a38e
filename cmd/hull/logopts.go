package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hullbox/hull"
)

// logOptions turns `--log-opt KEY=VALUE` flags (docker's json-file
// options) into RunOptions: max-size (a size in decimal units, as docker:
// 10k, 10m, 1.5g, 10MB; -1: unlimited, hull's default being
// hull.DefaultLogMaxSize) and max-file (an integer >= 1).
func logOptions(path string, opts []string) ([]hull.RunOption, error) {
	var ro []hull.RunOption
	for _, o := range opts {
		key, val, ok := strings.Cut(o, "=")
		bad := func(format string, a ...any) error {
			return usageErrorf(path, "invalid argument %q for \"--log-opt\" flag: %s", o, fmt.Sprintf(format, a...))
		}
		switch {
		case !ok || key == "":
			return nil, bad("want KEY=VALUE (max-size=10m, max-file=3)")
		case key == "max-size":
			n, err := parseDecimalSize(val)
			if err != nil {
				return nil, bad("max-size: %v", err)
			}
			ro = append(ro, hull.WithLogMaxSize(n))
		case key == "max-file":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, bad("max-file: %q is not an integer", val)
			}
			if n < 1 {
				return nil, bad("max-file cannot be less than 1")
			}
			ro = append(ro, hull.WithLogMaxFiles(n))
		default:
			return nil, bad("unknown log opt %q for json-file log driver (hull supports max-size and max-file)", key)
		}
	}
	return ro, nil
}

// parseDecimalSize parses a size as docker's json-file max-size does (its
// FromHumanSize): a number, an optional space, then optionally k, m, g, t
// or p, "i", "b", in any case; units are powers of 1000 ("10m" is
// 10,000,000 bytes, "10MiB" too). It must be positive; "-1" is
// hull.LogMaxSizeUnlimited.
func parseDecimalSize(s string) (int64, error) {
	if s == "-1" {
		return hull.LogMaxSizeUnlimited, nil
	}
	num := strings.ToLower(s)
	num = strings.TrimSuffix(num, "b")
	num = strings.TrimSuffix(num, "i")
	mult := 1.0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("kmgtp", num[n-1]); i >= 0 {
			mult = 1e3
			for range i {
				mult *= 1e3
			}
			num = num[:n-1]
		}
	}
	num = strings.TrimSuffix(num, " ")
	valid := num != "" && num[0] != '.' && num[len(num)-1] != '.' && !strings.Contains(num, "..")
	for _, r := range num {
		valid = valid && (r >= '0' && r <= '9' || r == '.')
	}
	f, err := strconv.ParseFloat(num, 64)
	if !valid || err != nil {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit k, m or g (as 10m)", s)
	}
	if n := int64(f * mult); n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("invalid size %q: must be a positive number", s)
}
