package pytorch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
)

// Limits on what one pickle may build. A state dict of a 400-billion
// parameter model needs a few hundred thousand stack entries and memo slots;
// these stop hostile pickles from exhausting memory long before that matters.
const (
	maxStack     = 1 << 22 // values on the stack and under marks together
	maxMarks     = 1 << 16 // nesting depth of MARK
	maxMemo      = 1 << 22 // memo entries
	maxString    = 1 << 26 // bytes in one string or bytes object
	maxLongBytes = 64      // bytes of one LONG1/LONG4 integer
	maxOps       = 1 << 28 // opcodes in one pickle
	// maxPickle bounds a pickle's bytes and maxValues the values it may
	// create, which keeps a hostile pickle (or a deflate bomb in data.pkl)
	// under about 1 GiB of memory. A state dict of 100,000 tensors is about
	// 20 MB and 3 million values.
	maxPickle = 1 << 28
	maxValues = 1 << 23
)

// Pickle opcodes this reader knows. The names are pickle.py's.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	highestProtocol  = 5
	refusedOpcodeSet = "INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, GET, PUT and the other text opcodes"
)

// opNames names the opcodes we refuse, for error messages.
var opNames = map[byte]string{
	'i': "INST", 'o': "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	'P': "PERSID", 'g': "GET", 'p': "PUT", 'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING",
	'V': "UNICODE", 'T': "BINSTRING", 'U': "SHORT_BINSTRING", 'l': "LIST", 'd': "DICT",
	0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

// tuple is a Python tuple.
type tuple []any

// list is a Python list; a pointer so that memo references alias it.
type list struct{ items []any }

// dict is a Python dict or collections.OrderedDict with string, integer,
// boolean or None keys, in insertion order.
type dict struct {
	ordered bool
	keys    []any
	vals    []any
	index   map[any]int
	attrs   *dict // state set by BUILD (an OrderedDict's _metadata)
}

func newDict(ordered bool) *dict { return &dict{ordered: ordered} }

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// global is a module-level name that the loader allowed.
type global struct{ module, name string }

func (g global) String() string { return g.module + "." + g.name }

// hooks is what a pickle may reach outside plain data: globals, persistent
// ids, calls and BUILD. The loader implements it with an allowlist.
type hooks interface {
	findGlobal(module, name string) (any, error)
	persistentLoad(pid any) (any, error)
	reduce(callable any, args tuple) (any, error)
	build(obj, state any) error
}

// errUnsafe and errFormat are wrapped by every refusal: errUnsafe where the
// pickle asks for something that could run code, errFormat where it is
// malformed.
var (
	// ErrUnsafe is wrapped by errors that refuse a checkpoint because its
	// pickle asks for a global, opcode or call outside what a state dict
	// needs. Nothing from such a file is executed.
	ErrUnsafe = errors.New("pytorch: refused unsafe pickle")
	// ErrFormat is wrapped by errors that report a malformed checkpoint.
	ErrFormat = errors.New("pytorch: invalid checkpoint")
)

// unpickler runs the pickle virtual machine over r, refusing everything that
// hooks does not allow. It never recurses, so nesting depth costs only
// stack entries.
type unpickler struct {
	r     io.Reader
	br    io.ByteReader
	pos   int64 // bytes consumed
	stack []any
	marks []int
	memo  map[uint32]any
	h     hooks
	// values counts pushes, a bound on the values created.
	values int
	buf    [8]byte
}

// byteReader is what unpickle reads from: a bufio.Reader or bytes.Reader.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// unpickle reads one pickle from r, up to and including STOP, and returns the
// object it builds. The error names the byte offset and the opcode.
func unpickle(r byteReader, h hooks) (any, int64, error) {
	u := &unpickler{r: r, br: r, memo: map[uint32]any{}, h: h}
	v, err := u.run()
	return v, u.pos, err
}

// pickleError is an error at a byte offset of a pickle.
type pickleError struct {
	Offset int64
	Op     string
	Err    error
}

func (e *pickleError) Error() string {
	return fmt.Sprintf("pickle byte %d (%s): %v", e.Offset, e.Op, e.Err)
}

func (e *pickleError) Unwrap() error { return e.Err }

// knownNames names the opcodes we run, for error messages.
var knownNames = map[byte]string{
	opMark: "MARK", opStop: "STOP", opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP", opBinInt: "BININT",
	opBinInt1: "BININT1", opBinInt2: "BININT2", opNone: "NONE", opBinPersID: "BINPERSID", opReduce: "REDUCE",
	opBinUnicode: "BINUNICODE", opAppend: "APPEND", opBuild: "BUILD", opGlobal: "GLOBAL", opEmptyDict: "EMPTY_DICT",
	opAppends: "APPENDS", opBinGet: "BINGET", opLongBinGet: "LONG_BINGET", opEmptyList: "EMPTY_LIST",
	opBinPut: "BINPUT", opLongBinPut: "LONG_BINPUT", opSetItem: "SETITEM", opTuple: "TUPLE", opEmptyTuple: "EMPTY_TUPLE",
	opSetItems: "SETITEMS", opBinFloat: "BINFLOAT", opBinBytes: "BINBYTES", opShortBinBytes: "SHORT_BINBYTES",
	opProto: "PROTO", opTuple1: "TUPLE1", opTuple2: "TUPLE2", opTuple3: "TUPLE3", opNewTrue: "NEWTRUE",
	opNewFalse: "NEWFALSE", opLong1: "LONG1", opLong4: "LONG4", opShortBinUni: "SHORT_BINUNICODE",
	opBinUnicode8: "BINUNICODE8", opBinBytes8: "BINBYTES8", opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE",
	opFrame: "FRAME",
}

func opName(op byte) string {
	if n, ok := knownNames[op]; ok {
		return n
	}
	if n, ok := opNames[op]; ok {
		return n
	}
	if op >= 0x20 && op < 0x7f {
		return strconv.QuoteRune(rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
}

func (u *unpickler) run() (any, error) {
	for n := 0; n < maxOps; n++ {
		at := u.pos
		op, err := u.byte()
		if err != nil {
			return nil, &pickleError{at, "end", fmt.Errorf("no STOP opcode: %w", err)}
		}
		if op == opStop {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, &pickleError{at, "STOP", fmt.Errorf("stack holds %d values and %d marks, want 1 and 0: %w", len(u.stack), len(u.marks), ErrFormat)}
			}
			return u.stack[0], nil
		}
		if err := u.step(op); err != nil {
			return nil, &pickleError{at, opName(op), err}
		}
		if u.pos > maxPickle || u.values > maxValues {
			return nil, &pickleError{at, opName(op), fmt.Errorf("pickle longer than %d bytes or %d values: %w", maxPickle, maxValues, ErrFormat)}
		}
		if len(u.stack)+len(u.marks) > maxStack {
			return nil, &pickleError{at, opName(op), fmt.Errorf("more than %d values on the stack: %w", maxStack, ErrFormat)}
		}
	}
	return nil, &pickleError{u.pos, "", fmt.Errorf("more than %d opcodes: %w", maxOps, ErrFormat)}
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrFormat)...)
}

func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		v, err := u.byte()
		if err != nil {
			return err
		}
		if v > highestProtocol {
			return formatErr("protocol %d is newer than %d", v, highestProtocol)
		}
	case opFrame:
		_, err := u.uint(8) // framing is an I/O hint; the opcodes follow inline
		return err
	case opMark:
		if len(u.marks) >= maxMarks {
			return formatErr("MARKs nested deeper than %d", maxMarks)
		}
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.marks) > 0 && u.marks[len(u.marks)-1] == len(u.stack) {
			u.marks = u.marks[:len(u.marks)-1] // pickle.py pops the mark
			return nil
		}
		_, err := u.pop()
		return err
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt:
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(v))))
	case opBinInt1:
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case opBinInt2:
		v, err := u.uint(2)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case opLong1, opLong4:
		size := 1
		if op == opLong4 {
			size = 4
		}
		n, err := u.uint(size)
		if err != nil {
			return err
		}
		if n > maxLongBytes {
			return formatErr("integer of %d bytes", n)
		}
		b, err := u.bytes(int(n))
		if err != nil {
			return err
		}
		u.push(decodeLong(b))
	case opBinFloat:
		v, err := u.uint(8)
		if err != nil {
			return err
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b[:])))
	case opBinUnicode, opShortBinUni, opBinUnicode8:
		s, err := u.lengthPrefixed(map[byte]int{opBinUnicode: 4, opShortBinUni: 1, opBinUnicode8: 8}[op])
		if err != nil {
			return err
		}
		u.push(string(s))
	case opBinBytes, opShortBinBytes, opBinBytes8:
		s, err := u.lengthPrefixed(map[byte]int{opBinBytes: 4, opShortBinBytes: 1, opBinBytes8: 8}[op])
		if err != nil {
			return err
		}
		u.push(s)
	case opEmptyTuple:
		u.push(tuple{})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(u.stack)-u.floor() < n {
			return formatErr("stack holds fewer than %d values", n)
		}
		t := make(tuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(tuple(items))
	case opEmptyList:
		u.push(&list{})
	case opEmptyDict:
		u.push(newDict(false))
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case opAppends:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case opSetItem:
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setItems([]any{k, v})
	case opSetItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return formatErr("SETITEMS with an odd number of values")
		}
		return u.setItems(items)
	case opBinPut, opLongBinPut:
		size := 1
		if op == opLongBinPut {
			size = 4
		}
		i, err := u.uint(size)
		if err != nil {
			return err
		}
		return u.put(uint32(i))
	case opMemoize:
		return u.put(uint32(len(u.memo)))
	case opBinGet, opLongBinGet:
		size := 1
		if op == opLongBinGet {
			size = 4
		}
		i, err := u.uint(size)
		if err != nil {
			return err
		}
		v, ok := u.memo[uint32(i)]
		if !ok {
			return formatErr("memo entry %d is not set", i)
		}
		u.push(v)
	case opGlobal:
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		g, err := u.h.findGlobal(mod, name)
		if err != nil {
			return err
		}
		u.push(g)
	case opStackGlobal:
		name, err := u.pop()
		if err != nil {
			return err
		}
		mod, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return formatErr("STACK_GLOBAL on %s and %s, want two strings", typeName(mod), typeName(name))
		}
		g, err := u.h.findGlobal(ms, ns)
		if err != nil {
			return err
		}
		u.push(g)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.h.persistentLoad(pid)
		if err != nil {
			return err
		}
		u.push(v)
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(tuple)
		if !ok {
			return formatErr("REDUCE with %s arguments, want a tuple", typeName(args))
		}
		v, err := u.h.reduce(fn, t)
		if err != nil {
			return err
		}
		u.push(v)
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		return u.h.build(obj, state)
	default:
		if name, ok := opNames[op]; ok {
			return fmt.Errorf("opcode %s is not allowed in a state dict (refused: %s): %w", name, refusedOpcodeSet, ErrUnsafe)
		}
		return formatErr("unknown opcode 0x%02x", op)
	}
	return nil
}

func (u *unpickler) push(v any) {
	u.values++
	u.stack = append(u.stack, v)
}

// floor is the stack index above the innermost mark.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, formatErr("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, formatErr("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops the values above the innermost mark, and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, formatErr("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := make([]any, len(u.stack)-m)
	copy(items, u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) put(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[i]; !ok && len(u.memo) >= maxMemo {
		return formatErr("more than %d memo entries", maxMemo)
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) appendTo(items []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	l, ok := v.(*list)
	if !ok {
		return formatErr("APPEND to %s, want a list", typeName(v))
	}
	if len(l.items)+len(items) > maxStack {
		return formatErr("list longer than %d", maxStack)
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItems(kv []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	d, ok := v.(*dict)
	if !ok {
		return formatErr("SETITEM on %s, want a dict", typeName(v))
	}
	if len(d.keys)+len(kv)/2 > maxStack {
		return formatErr("dict larger than %d", maxStack)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := d.set(kv[i], kv[i+1]); err != nil {
			return fmt.Errorf("%w: %w", err, ErrFormat)
		}
	}
	return nil
}

func (u *unpickler) byte() (byte, error) {
	b, err := u.br.ReadByte()
	if err != nil {
		return 0, truncated(err)
	}
	u.pos++
	return b, nil
}

// uint reads a little-endian unsigned integer of size bytes.
func (u *unpickler) uint(size int) (uint64, error) {
	b := u.buf[:size]
	n, err := io.ReadFull(u.r, b)
	u.pos += int64(n)
	if err != nil {
		return 0, truncated(err)
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return formatErr("truncated")
	}
	return err
}

func (u *unpickler) lengthPrefixed(size int) ([]byte, error) {
	n, err := u.uint(size)
	if err != nil {
		return nil, err
	}
	if n > maxString {
		return nil, formatErr("string of %d bytes (limit %d)", n, maxString)
	}
	return u.bytes(int(n))
}

// bytes reads n bytes, growing the buffer as data arrives so that a false
// length costs no more memory than the input holds.
func (u *unpickler) bytes(n int) ([]byte, error) {
	const step = 1 << 20
	b := make([]byte, 0, min(n, step))
	for len(b) < n {
		k := min(n-len(b), step)
		b = append(b, make([]byte, k)...)
		m, err := io.ReadFull(u.r, b[len(b)-k:])
		u.pos += int64(m)
		if err != nil {
			return nil, truncated(err)
		}
	}
	return b, nil
}

// line reads a newline-terminated string (GLOBAL's operands).
func (u *unpickler) line() (string, error) {
	var b []byte
	for {
		c, err := u.byte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		if len(b) >= 1024 {
			return "", formatErr("GLOBAL name longer than 1024 bytes")
		}
		b = append(b, c)
	}
}

// decodeLong decodes a little-endian two's complement integer: an int64 if it
// fits, else a *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// typeName names a value's Python type for messages.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return fmt.Sprintf("tuple of %d", len(v))
	case *list:
		return "list"
	case *dict:
		if v.ordered {
			return "OrderedDict"
		}
		return "dict"
	case global:
		return v.String()
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	case storageType:
		return "torch." + v.name
	case dtypeValue:
		return "dtype " + string(v.dtype)
	}
	return fmt.Sprintf("%T", v)
}
