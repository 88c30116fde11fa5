package pytorch

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/gomerge/gomerge/safetensors"
)

// The globals a state dict may name. Nothing is ever called: each is a tag
// that REDUCE interprets by name.
var (
	storageDTypes = map[string]safetensors.DType{
		"FloatStorage":           safetensors.F32,
		"DoubleStorage":          safetensors.F64,
		"HalfStorage":            safetensors.F16,
		"BFloat16Storage":        safetensors.BF16,
		"LongStorage":            safetensors.I64,
		"IntStorage":             safetensors.I32,
		"ShortStorage":           safetensors.I16,
		"CharStorage":            safetensors.I8,
		"ByteStorage":            safetensors.U8,
		"BoolStorage":            safetensors.Bool,
		"Float8_e4m3fnStorage":   safetensors.F8E4M3,
		"Float8_e5m2Storage":     safetensors.F8E5M2,
		"Float8_e4m3fnuzStorage": safetensors.F8E4M3FNUZ,
		"Float8_e5m2fnuzStorage": safetensors.F8E5M2FNUZ,
		"UInt16Storage":          safetensors.U16,
		"UInt32Storage":          safetensors.U32,
		"UInt64Storage":          safetensors.U64,
		// UntypedStorage holds bytes; _rebuild_tensor_v3 names the dtype.
		"UntypedStorage": safetensors.U8,
	}
	dtypeGlobals = map[string]safetensors.DType{
		"float32": safetensors.F32, "float": safetensors.F32,
		"float64": safetensors.F64, "double": safetensors.F64,
		"float16": safetensors.F16, "half": safetensors.F16,
		"bfloat16": safetensors.BF16,
		"int64":    safetensors.I64, "long": safetensors.I64,
		"int32": safetensors.I32, "int": safetensors.I32,
		"int16": safetensors.I16, "short": safetensors.I16,
		"int8":            safetensors.I8,
		"uint8":           safetensors.U8,
		"bool":            safetensors.Bool,
		"uint16":          safetensors.U16,
		"uint32":          safetensors.U32,
		"uint64":          safetensors.U64,
		"float8_e4m3fn":   safetensors.F8E4M3,
		"float8_e5m2":     safetensors.F8E5M2,
		"float8_e4m3fnuz": safetensors.F8E4M3FNUZ,
		"float8_e5m2fnuz": safetensors.F8E5M2FNUZ,
		"float8_e8m0fnu":  safetensors.F8E8M0,
	}
	rebuildFuncs = map[string]bool{
		"torch._utils._rebuild_tensor":               true,
		"torch._utils._rebuild_tensor_v2":            true,
		"torch._utils._rebuild_tensor_v3":            true,
		"torch._utils._rebuild_parameter":            true,
		"torch._utils._rebuild_parameter_with_state": true,
		"torch._tensor._rebuild_from_type_v2":        true,
		"collections.OrderedDict":                    true,
		"torch.nn.parameter.Parameter":               true, // a type tag for _rebuild_from_type_v2
		"torch.Tensor":                               true, // likewise
		"torch._tensor.Tensor":                       true,
	}
)

// storageType is a storage class global: torch.FloatStorage and friends.
type storageType struct {
	name  string
	dtype safetensors.DType
}

// dtypeValue is a dtype global such as torch.bfloat16.
type dtypeValue struct{ dtype safetensors.DType }

// storageRef is what a persistent id resolves to: one storage record of the
// checkpoint, viewed with the dtype of the storage class that named it.
type storageRef struct {
	key      string
	dtype    safetensors.DType
	untyped  bool
	numel    int64 // elements of dtype, as the persistent id says
	location string
}

// tensorRef is a tensor rebuilt by _rebuild_tensor*: a strided view of a
// storage.
type tensorRef struct {
	storage *storageRef
	dtype   safetensors.DType
	offset  int64 // in elements of dtype
	shape   []int64
	stride  []int64
}

// loader interprets a torch.save pickle. It allows only the globals and
// calls a state dict needs, and collects the storages it references.
type loader struct {
	legacy   bool
	storages map[string]*storageRef
	keys     []string // storage keys in first-reference order
}

func newLoader(legacy bool) *loader {
	return &loader{legacy: legacy, storages: map[string]*storageRef{}}
}

func (l *loader) findGlobal(module, name string) (any, error) {
	full := module + "." + name
	switch {
	case rebuildFuncs[full]:
		return global{module, name}, nil
	case module == "torch" || module == "torch.storage" || module == "torch.cuda":
		if dt, ok := storageDTypes[name]; ok && (module != "torch.storage" || name == "UntypedStorage") {
			return storageType{name, dt}, nil
		}
		if dt, ok := dtypeGlobals[name]; ok && module == "torch" {
			return dtypeValue{dt}, nil
		}
	}
	return nil, fmt.Errorf("global %s is not allowed: a state dict needs only torch storages, dtypes, tensor rebuild functions and collections.OrderedDict, and no code from a checkpoint is run: %w", quoteGlobal(full), ErrUnsafe)
}

func quoteGlobal(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// persistentLoad resolves ('storage', storage_type, key, location, numel)
// and, in the legacy format, a sixth view_metadata element that must be None.
func (l *loader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(tuple)
	want := 5
	if l.legacy {
		want = 6
	}
	if !ok || len(t) != want {
		return nil, formatErr("persistent id %s, want a tuple of %d", typeName(pid), want)
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, formatErr("persistent id of kind %v, want \"storage\"", describe(t[0]))
	}
	st, ok := t[1].(storageType)
	if !ok {
		if dv, isDType := t[1].(dtypeValue); isDType {
			// Some writers pass the dtype itself.
			st = storageType{"", dv.dtype}
		} else {
			return nil, formatErr("storage type %s, want a torch storage class", typeName(t[1]))
		}
	}
	key, ok1 := t[2].(string)
	loc, ok2 := t[3].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 || numel > maxElements {
		return nil, formatErr("storage persistent id (%s, %s, %s), want key, location and a size", typeName(t[2]), typeName(t[3]), describe(t[4]))
	}
	if l.legacy && t[5] != nil {
		return nil, formatErr("storage %q: views of storages (pre-1.0 torch) are not supported", key)
	}
	if !strings.HasPrefix(loc, "cpu") && !strings.HasPrefix(loc, "cuda") && !strings.HasPrefix(loc, "mps") && !strings.HasPrefix(loc, "xpu") && !strings.HasPrefix(loc, "meta") {
		return nil, formatErr("storage %q on unknown device %q", key, loc)
	}
	if strings.HasPrefix(loc, "meta") {
		return nil, formatErr("storage %q is on the meta device and holds no data", key)
	}
	ref := &storageRef{key: key, dtype: st.dtype, untyped: st.name == "UntypedStorage", numel: numel, location: loc}
	if prev, ok := l.storages[key]; ok {
		if prev.numel*int64(prev.dtype.Size()) != numel*int64(st.dtype.Size()) {
			return nil, formatErr("storage %q has %d×%d bytes in one reference and %d×%d in another", key, prev.numel, prev.dtype.Size(), numel, st.dtype.Size())
		}
	} else {
		l.storages[key] = ref
		l.keys = append(l.keys, key)
	}
	return ref, nil
}

func (l *loader) reduce(fn any, args tuple) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, fmt.Errorf("call of %s is not allowed (only torch tensor rebuild functions and OrderedDict are): %w", typeName(fn), ErrUnsafe)
	}
	switch g.String() {
	case "collections.OrderedDict":
		return newOrderedDict(args)
	case "torch._utils._rebuild_tensor":
		return rebuildTensor(args, 4, 4, nil)
	case "torch._utils._rebuild_tensor_v2":
		// (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
		return rebuildTensor(args, 6, 7, nil)
	case "torch._utils._rebuild_tensor_v3":
		// (storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
		if len(args) < 7 {
			return nil, formatErr("_rebuild_tensor_v3 with %d arguments, want 7 or 8", len(args))
		}
		dv, ok := args[6].(dtypeValue)
		if !ok {
			return nil, formatErr("_rebuild_tensor_v3 dtype is %s, want a torch dtype", typeName(args[6]))
		}
		return rebuildTensor(args, 7, 8, &dv.dtype)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): the data is the tensor.
		if len(args) < 3 || len(args) > 4 {
			return nil, formatErr("%s with %d arguments", g.name, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, formatErr("%s of %s, want a tensor", g.name, typeName(args[0]))
		}
		return t, nil
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): func(*args) is a plain tensor
		// rebuild; new_type a tensor type tag; state Python attributes.
		if len(args) != 4 {
			return nil, formatErr("_rebuild_from_type_v2 with %d arguments, want 4", len(args))
		}
		inner, ok := args[2].(tuple)
		if !ok {
			return nil, formatErr("_rebuild_from_type_v2 arguments are %s, want a tuple", typeName(args[2]))
		}
		if tg, ok := args[1].(global); !ok || !strings.HasSuffix(tg.name, "Tensor") && tg.name != "Parameter" {
			return nil, fmt.Errorf("_rebuild_from_type_v2 to type %s is not allowed: %w", typeName(args[1]), ErrUnsafe)
		}
		// Not itself, so that nesting cannot recurse.
		if fg, ok := args[0].(global); !ok || !strings.HasPrefix(fg.name, "_rebuild_") || fg.name == "_rebuild_from_type_v2" {
			return nil, fmt.Errorf("_rebuild_from_type_v2 with function %s is not allowed: %w", typeName(args[0]), ErrUnsafe)
		}
		return l.reduce(args[0], inner)
	}
	return nil, fmt.Errorf("call of %s is not allowed: %w", g, ErrUnsafe)
}

func newOrderedDict(args tuple) (any, error) {
	d := newDict(true)
	if len(args) == 0 {
		return d, nil
	}
	if len(args) != 1 {
		return nil, formatErr("OrderedDict with %d arguments", len(args))
	}
	l, ok := args[0].(*list)
	if !ok {
		return nil, formatErr("OrderedDict of %s, want a list of pairs", typeName(args[0]))
	}
	for _, it := range l.items {
		p, ok := it.(tuple)
		if !ok || len(p) != 2 {
			return nil, formatErr("OrderedDict item %s, want a pair", typeName(it))
		}
		if err := d.set(p[0], p[1]); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrFormat)
		}
	}
	return d, nil
}

// rebuildTensor checks and records _rebuild_tensor*'s first four arguments:
// storage, storage_offset, size, stride.
func rebuildTensor(args tuple, minArgs, maxArgs int, dtype *safetensors.DType) (*tensorRef, error) {
	if len(args) < minArgs || len(args) > maxArgs {
		return nil, formatErr("tensor rebuild with %d arguments, want %d to %d", len(args), minArgs, maxArgs)
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, formatErr("tensor storage is %s, want a storage", typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, formatErr("storage offset %s", describe(args[1]))
	}
	shape, err := ints(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, formatErr("size has %d dimensions and stride %d", len(shape), len(stride))
	}
	t := &tensorRef{storage: st, dtype: st.dtype, offset: off, shape: shape, stride: stride}
	if dtype != nil {
		t.dtype = *dtype
	}
	if t.dtype.Size() == 0 {
		return nil, formatErr("unsupported dtype %q", t.dtype)
	}
	if !st.untyped && dtype != nil && *dtype != st.dtype {
		return nil, formatErr("tensor of %s on a %s storage", *dtype, st.dtype)
	}
	return t, t.check()
}

// ints converts a tuple of non-negative ints (torch.Size or a stride).
func ints(v any, what string) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, formatErr("tensor %s is %s, want a tuple", what, typeName(v))
	}
	if len(t) > 64 {
		return nil, formatErr("tensor %s has %d dimensions", what, len(t))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, formatErr("tensor %s[%d] is %s", what, i, describe(x))
		}
		out[i] = n
	}
	return out, nil
}

// maxElements bounds a tensor's element count so that byte sizes fit int64.
const maxElements = 1 << 56

// check verifies that the view lies inside its storage as the persistent id
// sizes it. The file's record is checked again against the actual bytes.
func (t *tensorRef) check() error {
	n := int64(1)
	for _, d := range t.shape {
		if d != 0 && n > maxElements/d {
			return formatErr("tensor of shape %v has too many elements", t.shape)
		}
		n *= d
	}
	if n == 0 {
		return nil
	}
	last, err := t.lastElement()
	if err != nil {
		return err
	}
	avail := t.storageElements()
	if last >= avail {
		return formatErr("tensor of shape %v, stride %v, offset %d reaches element %d of a storage of %d", t.shape, t.stride, t.offset, last, avail)
	}
	return nil
}

// storageElements is the storage's size in elements of the tensor's dtype,
// as the persistent id gives it.
func (t *tensorRef) storageElements() int64 {
	bytes := t.storage.numel * int64(t.storage.dtype.Size())
	return bytes / int64(t.dtype.Size())
}

// lastElement is the storage index of the view's last element, for a
// non-empty view.
func (t *tensorRef) lastElement() (int64, error) {
	last := t.offset
	for i, d := range t.shape {
		s := t.stride[i]
		if s != 0 && d-1 > (maxElements-last)/s {
			return 0, formatErr("tensor of shape %v and stride %v reaches past 2^56 elements", t.shape, t.stride)
		}
		last += (d - 1) * s
	}
	return last, nil
}

func (l *loader) build(obj, state any) error {
	switch o := obj.(type) {
	case *dict:
		// OrderedDict.__reduce__ passes the instance __dict__ (a state dict's
		// _metadata) as BUILD state; keep it, never interpret it as code.
		s, ok := state.(*dict)
		if !ok {
			return formatErr("BUILD of a dict with %s state", typeName(state))
		}
		o.attrs = s
		return nil
	case *tensorRef:
		// A tensor's __setstate__ sets Python attributes; none matter here.
		return nil
	}
	return fmt.Errorf("BUILD of %s is not allowed: %w", typeName(obj), ErrUnsafe)
}

// describe prints a scalar value for messages.
func describe(v any) string {
	switch v := v.(type) {
	case int64, float64, bool:
		return fmt.Sprint(v)
	case *big.Int:
		return v.String()
	case string:
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		return fmt.Sprintf("%q", v)
	}
	return typeName(v)
}
