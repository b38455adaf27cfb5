package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// keyFault is a key that the strict decoder refuses: one given twice in the
// same object, or one the target type does not have. Path is its JSON path
// (person.address.city, test.parts[1]).
type keyFault struct {
	Path      string
	Duplicate bool
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkKeys reads one JSON value from dec alongside the Go type it is
// decoded into and returns the first key given twice in one object or
// unknown to its struct, by path. A key matches a struct field as
// encoding/json matches it, case-insensitively, so "Given_Name" after
// "given_name" is the same field twice (the last would win). Values decoded
// by their own UnmarshalJSON, and maps and interfaces, are walked without a
// type: their keys are only checked for duplicates. A syntax error is
// returned as an error; the decoder itself reports it to the caller.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) (*keyFault, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil, nil // a scalar
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		t = nil
	}
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if f, err := checkKeys(dec, elem, fmt.Sprintf("%s[%d]", path, i)); f != nil || err != nil {
				return f, err
			}
		}
	case '{':
		var fields map[string]structField
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := tok.(string)
			child := key
			if path != "" {
				child = path + "." + key
			}
			id, vt := key, elem
			if fields != nil {
				f, known := fields[strings.ToLower(key)]
				if !known {
					return &keyFault{Path: child}, nil
				}
				id, vt = f.name, f.typ
			}
			if seen[id] {
				return &keyFault{Path: child, Duplicate: true}, nil
			}
			seen[id] = true
			if f, err := checkKeys(dec, vt, child); f != nil || err != nil {
				return f, err
			}
		}
	}
	_, err = dec.Token() // the closing ] or }
	return nil, err
}

// structField is a struct field as encoding/json names it.
type structField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the JSON fields of a struct by lower-cased name,
// embedded structs' fields included.
func jsonFields(t reflect.Type) map[string]structField {
	out := map[string]structField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = structField{name: name, typ: ft}
	}
	return out
}
