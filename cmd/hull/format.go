package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
)

var decimalUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}

// humanSize formats a byte count with decimal units and the given number of
// significant digits, as docker does (go-units HumanSizeWithPrecision):
// 1234567 with 3 digits is "1.23MB".
func humanSize(n int64, digits int) string {
	size := float64(n)
	i := 0
	for size >= 1000 && i < len(decimalUnits)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", digits, size, decimalUnits[i])
}

// humanDuration says how long d is in words, as docker's CREATED column
// does (go-units HumanDuration).
func humanDuration(d time.Duration) string {
	seconds := int(d.Seconds())
	minutes := int(d.Minutes())
	hours := int(d.Hours() + 0.5)
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// createdSince is the CREATED column: "3 minutes ago", or "N/A" when the
// image does not say when it was made.
func createdSince(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// templateFuncs are the functions docker offers in --format templates.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"split": strings.Split,
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": title,
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
	"println": func(v ...any) string { return fmt.Sprintln(v...) },
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n])
		}
		return s
	},
}

// title upper-cases the first letter of each word.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		up := unicode.IsSpace(prev)
		prev = r
		if up {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// parseTemplate parses a --format value; a mistake in it is a usage error.
func parseTemplate(path, format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, usageErrorf(path, "template parsing error: %v", err)
	}
	return t, nil
}

// execTemplate applies t to v. Like docker, when the typed value lacks a
// field the template names (".Id" of a struct whose field is ID), it tries
// again on v's JSON form, so templates may use the JSON field names.
func execTemplate(t *template.Template, v any) (string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err == nil {
		return buf.String(), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // sizes print as integers, not 1.2e+07
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return "", err
	}
	buf.Reset()
	if err := t.Execute(&buf, generic); err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return buf.String(), nil
}

// table is a tabwriter.Writer over a buffer: its Flush writes the whole
// table at once, where a tabwriter alone writes each cell with a write
// of its own (12,000 writes for `ps -a` of 1,000 containers).
type table struct {
	*tabwriter.Writer
	buf *bufio.Writer
}

// newTable returns a table writing to w, its columns padded by 3 spaces.
func newTable(w io.Writer, minwidth, tabwidth int) *table {
	buf := bufio.NewWriterSize(w, 32<<10)
	return &table{Writer: tabwriter.NewWriter(buf, minwidth, tabwidth, 3, ' ', 0), buf: buf}
}

// Flush writes out the table's rows.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.buf.Flush()
}
