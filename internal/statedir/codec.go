package statedir

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"
)

// The listing cache's encoding: each value's exported fields in order,
// with no names (the cache's schema, schemaOf, says what they are):
// varints for numbers, a length before strings, a length+1 before slices
// and maps (0: nil) and a 0 or 1 before pointers; types with a binary
// form of their own (time.Time, netip.Addr) in that form. It is here
// rather than encoding/gob, which would cost every program that imports
// hull its package initialisation (some 0.2 ms and 365 allocations at
// start-up) and decodes no faster.

var (
	binaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// typeInfo is what encoding a type needs to know of it, worked out once
// for the whole tree of types a value holds, so that a decode asks
// reflect nothing per value but to set it (reflect's Kind, Implements and
// Field, and a map lookup per value, were most of a decode's time).
type typeInfo struct {
	typ    reflect.Type
	kind   reflect.Kind
	binary bool        // it has a binary form of its own: encoded as that
	fields []fieldInfo // a struct's exported fields
	elem   *typeInfo   // a slice's, array's, pointer's or map's element
	key    *typeInfo   // a map's key
}

type fieldInfo struct {
	index int
	info  *typeInfo
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := buildInfo(t, map[reflect.Type]*typeInfo{})
	typeInfos.Store(t, ti)
	return ti
}

// buildInfo makes t's typeInfo and those of the types it holds; seen
// holds the ones under way (a type that holds itself through a pointer).
func buildInfo(t reflect.Type, seen map[reflect.Type]*typeInfo) *typeInfo {
	if ti := seen[t]; ti != nil {
		return ti
	}
	ti := &typeInfo{typ: t, kind: t.Kind(), binary: t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		reflect.PointerTo(t).Implements(binaryUnmarshaler) && t.Implements(binaryMarshaler)}
	seen[t] = ti
	if ti.binary {
		return ti
	}
	switch ti.kind {
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				ti.fields = append(ti.fields, fieldInfo{index: i, info: buildInfo(t.Field(i).Type, seen)})
			}
		}
	case reflect.Slice, reflect.Array, reflect.Pointer:
		ti.elem = buildInfo(t.Elem(), seen)
	case reflect.Map:
		ti.key, ti.elem = buildInfo(t.Key(), seen), buildInfo(t.Elem(), seen)
	}
	return ti
}

// errCorrupt is a cache that does not decode: it is ignored.
var errCorrupt = errors.New("listing cache: corrupt")

// appendValue appends v, whose typeInfo is ti, to b.
func appendValue(b []byte, v reflect.Value, ti *typeInfo) ([]byte, error) {
	if ti.binary {
		data, err := v.Interface().(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, err
		}
		return appendBytes(b, data), nil
	}
	switch ti.kind {
	case reflect.Bool:
		if v.Bool() {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.AppendVarint(b, v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return binary.AppendUvarint(b, v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return binary.AppendUvarint(b, math.Float64bits(v.Float())), nil
	case reflect.String:
		return appendBytes(b, []byte(v.String())), nil
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, 0), nil
		}
		return appendValue(append(b, 1), v.Elem(), ti.elem)
	case reflect.Slice:
		if v.IsNil() {
			return append(b, 0), nil
		}
		b = binary.AppendUvarint(b, uint64(v.Len())+1)
		var err error
		for i := 0; i < v.Len() && err == nil; i++ {
			b, err = appendValue(b, v.Index(i), ti.elem)
		}
		return b, err
	case reflect.Map:
		if v.IsNil() {
			return append(b, 0), nil
		}
		b = binary.AppendUvarint(b, uint64(v.Len())+1)
		var err error
		for it := v.MapRange(); it.Next() && err == nil; {
			if b, err = appendValue(b, it.Key(), ti.key); err == nil {
				b, err = appendValue(b, it.Value(), ti.elem)
			}
		}
		return b, err
	case reflect.Struct:
		var err error
		for _, f := range ti.fields {
			if b, err = appendValue(b, v.Field(f.index), f.info); err != nil {
				break
			}
		}
		return b, err
	}
	return nil, fmt.Errorf("listing cache: cannot encode a %s", ti.typ)
}

func appendBytes(b, data []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(data))), data...)
}

// decoder reads what appendValue wrote.
type decoder struct{ b []byte }

func (d *decoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errCorrupt
	}
	d.b = d.b[n:]
	return x, nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out, nil
}

// length reads a slice's or map's length+1: -1 for nil.
func (d *decoder) length() (int, error) {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b))+1 { // each element takes a byte at least
		return 0, errCorrupt
	}
	return int(n) - 1, nil
}

// value decodes into v, whose typeInfo is ti. Strings are not copied:
// they share d's buffer, which no one writes once read (readCache), so
// that a listing of a thousand states does not allocate tens of
// thousands of them.
func (d *decoder) value(v reflect.Value, ti *typeInfo) error {
	if ti.binary {
		data, err := d.bytes()
		if err != nil {
			return err
		}
		return v.Addr().Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(data)
	}
	switch ti.kind {
	case reflect.Bool:
		if len(d.b) == 0 {
			return errCorrupt
		}
		v.SetBool(d.b[0] != 0)
		d.b = d.b[1:]
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, n := binary.Varint(d.b)
		if n <= 0 {
			return errCorrupt
		}
		d.b = d.b[n:]
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		x, err := d.uvarint()
		if err != nil {
			return err
		}
		v.SetUint(x)
	case reflect.Float32, reflect.Float64:
		x, err := d.uvarint()
		if err != nil {
			return err
		}
		v.SetFloat(math.Float64frombits(x))
	case reflect.String:
		s, err := d.bytes()
		if err != nil {
			return err
		}
		if len(s) > 0 {
			v.SetString(unsafe.String(&s[0], len(s)))
		}
	case reflect.Pointer:
		if len(d.b) == 0 {
			return errCorrupt
		}
		present := d.b[0] != 0
		d.b = d.b[1:]
		if !present {
			return nil
		}
		v.Set(reflect.New(ti.typ.Elem()))
		return d.value(v.Elem(), ti.elem)
	case reflect.Slice:
		n, err := d.length()
		if err != nil || n < 0 {
			return err
		}
		v.Set(reflect.MakeSlice(ti.typ, n, n))
		for i := range n {
			if err := d.value(v.Index(i), ti.elem); err != nil {
				return err
			}
		}
	case reflect.Map:
		n, err := d.length()
		if err != nil || n < 0 {
			return err
		}
		m := reflect.MakeMapWithSize(ti.typ, n)
		k, e := reflect.New(ti.typ.Key()).Elem(), reflect.New(ti.typ.Elem()).Elem()
		for range n {
			k.SetZero()
			e.SetZero()
			if err := d.value(k, ti.key); err != nil {
				return err
			}
			if err := d.value(e, ti.elem); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for _, f := range ti.fields {
			if err := d.value(v.Field(f.index), f.info); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("listing cache: cannot decode a %s", ti.typ)
	}
	return nil
}
