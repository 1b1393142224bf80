// Command goescape-oracle answers goescape's type questions with Go's own type checker.
//
// It is shipped as source inside the goescape Python package, uses the standard library only, and
// is compiled once per toolchain with the user's own `go` (no network). goescape starts one
// process per run and talks to it in JSON lines: one request object per line on stdin, one
// response per line on stdout ({"id": N, "result": ...} or {"id": N, "error": "..."}).
//
// Packages come from `go list -e -export -deps -test -json`: the packages asked about are parsed
// and type-checked from source (tests included), everything they import is read from the export
// data the go command names, through each package's ImportMap (the standard library's vendored
// packages, test variants). cgo packages are checked with FakeImportC.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// listed is one package as `go list -json` describes it.
type listed struct {
	ImportPath   string
	Name         string
	Dir          string
	Export       string
	ForTest      string
	GoFiles      []string
	CgoFiles     []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
	ImportMap    map[string]string
	DepOnly      bool
	Standard     bool
	Module       *struct{ Path, Dir string }
	Error        *struct{ Err string }
}

// unit is one type-checked package: a package with its in-package tests, or an external test package.
type unit struct {
	list  *listed
	path  string // the package path without a test-variant suffix
	files []*ast.File
	pkg   *types.Package
	info  *types.Info
	err   error
	index map[string]map[[2]int]ast.Node // file → (start, end) → node, built on first use
}

type oracle struct {
	goCmd   string
	fset    *token.FileSet
	sizes   types.Sizes
	arch    string             // the GOARCH sizes are for
	byPath  map[string]*listed // every listed package, by ImportPath (test variants included)
	targets map[string]bool    // ImportPaths asked for (not DepOnly)
	units   map[string]*unit   // by the listed ImportPath of the variant checked
	byFile  map[string]string  // absolute file → the ImportPath of the unit that checks it
	modules map[string]bool    // module roots already listed with their importers
	// The syntax index of the last set of units identity searched (see syntaxIndex).
	parents map[ast.Node]ast.Node
	decls   map[string]funcDecl
	indexed int
	// Every identifier of the last set of units uses searched, by its object's key (see uses).
	usesSig string
	usesBy  map[string][]use
}

// overlay is the go command's -overlay replacements (file → the file to read instead) named in
// GOFLAGS, so that the oracle reads the same source the go command compiles.
var overlay = map[string]string{}

func loadOverlay() {
	for _, flag := range strings.Fields(os.Getenv("GOFLAGS")) {
		file, ok := strings.CutPrefix(flag, "-overlay=")
		if !ok {
			file, ok = strings.CutPrefix(flag, "--overlay=")
		}
		if !ok {
			continue
		}
		var parsed struct{ Replace map[string]string }
		if data, err := os.ReadFile(file); err == nil && json.Unmarshal(data, &parsed) == nil {
			for from, to := range parsed.Replace {
				abs, err := filepath.Abs(from)
				if err == nil {
					overlay[abs] = to
				}
			}
		}
	}
}

// readSource is a file's content as the go command sees it, through the overlay.
func readSource(path string) ([]byte, error) {
	if to, ok := overlay[path]; ok && to != "" {
		return os.ReadFile(to)
	}
	return os.ReadFile(path)
}

// source is what parser.ParseFile takes as src: nil (read the file itself) or the overlay's content.
func source(path string) any {
	if _, ok := overlay[path]; !ok {
		return nil
	}
	data, err := readSource(path)
	if err != nil {
		return nil
	}
	return data
}

func main() {
	loadOverlay()
	goCmd := "go"
	if len(os.Args) > 2 && os.Args[1] == "-go" {
		goCmd = os.Args[2]
	}
	o := &oracle{
		goCmd:   goCmd,
		fset:    token.NewFileSet(),
		byPath:  map[string]*listed{},
		targets: map[string]bool{},
		units:   map[string]*unit{},
		byFile:  map[string]string{},
		modules: map[string]bool{},
	}
	arch := os.Getenv("GOARCH")
	if arch == "" {
		arch = goEnv(goCmd, "GOARCH")
	}
	o.sizes, o.arch = types.SizesFor("gc", arch), arch
	if o.sizes == nil {
		o.sizes, o.arch = types.SizesFor("gc", "amd64"), "amd64"
	}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req map[string]any
		resp := map[string]any{}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp["error"] = "bad request: " + err.Error()
		} else {
			resp["id"] = req["id"]
			result, err := o.safeHandle(req)
			if err != nil {
				resp["error"] = err.Error()
			} else {
				resp["result"] = result
			}
		}
		enc.Encode(resp)
		out.Flush()
	}
}

// safeHandle answers one request; a panic inside go/types becomes that request's error, not the end of the run.
func (o *oracle) safeHandle(req map[string]any) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("the type checker failed on this question: %v", r)
		}
	}()
	return o.handle(req)
}

func goEnv(goCmd, name string) string {
	b, err := exec.Command(goCmd, "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func str(req map[string]any, key string) string {
	s, _ := req[key].(string)
	return s
}

func num(req map[string]any, key string) int {
	f, _ := req[key].(float64)
	return int(f)
}

func (o *oracle) handle(req map[string]any) (any, error) {
	switch str(req, "op") {
	case "load":
		var patterns []string
		for _, p := range req["patterns"].([]any) {
			patterns = append(patterns, p.(string))
		}
		return o.load(str(req, "dir"), patterns)
	case "type":
		n, u, err := o.node(str(req, "file"), num(req, "start"), num(req, "end"))
		if err != nil {
			return nil, err
		}
		e, ok := n.(ast.Expr)
		if !ok {
			return nil, fmt.Errorf("no expression at %d-%d", num(req, "start"), num(req, "end"))
		}
		return o.exprType(u, e), nil
	case "object":
		n, u, err := o.node(str(req, "file"), num(req, "start"), num(req, "end"))
		if err != nil {
			return nil, err
		}
		id, ok := n.(*ast.Ident)
		if !ok {
			return nil, errors.New("not an identifier")
		}
		obj := u.info.ObjectOf(id)
		if obj == nil {
			return nil, nil
		}
		return o.describeObject(u, obj), nil
	case "uses":
		return o.uses(str(req, "key"), str(req, "file"))
	case "identity":
		var start ast.Expr
		if _, ok := req["start"]; ok {
			n, _, err := o.node(str(req, "file"), num(req, "start"), num(req, "end"))
			if err != nil {
				return nil, err
			}
			if e, ok := n.(ast.Expr); ok {
				start = e
			} else {
				return nil, errors.New("not an expression")
			}
		}
		return o.identity(str(req, "key"), str(req, "file"), start)
	case "lookup":
		return o.lookupName(str(req, "file"), num(req, "offset"), str(req, "name"))
	case "names":
		return names(o.fset, str(req, "dir"))
	case "targets":
		var dirs []string
		for _, d := range req["dirs"].([]any) {
			dirs = append(dirs, d.(string))
		}
		var platforms [][2]string
		for _, p := range req["platforms"].([]any) {
			pair := p.([]any)
			platforms = append(platforms, [2]string{pair[0].(string), pair[1].(string)})
		}
		host := req["host"].([]any)
		hostCgo, _ := req["host_cgo"].(bool)
		return targets(dirs, platforms, [2]string{host[0].(string), host[1].(string)}, hostCgo)
	case "layout":
		observe, _ := req["observe"].(bool)
		return o.layout(str(req, "file"), num(req, "start"), num(req, "end"), observe)
	case "check":
		u, err := o.unitOf(str(req, "file"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"package": u.path, "errors": errString(u.err)}, nil
	}
	return nil, fmt.Errorf("unknown op %q", str(req, "op"))
}

func errString(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

// load lists the patterns with their dependencies' export data and test variants.
func (o *oracle) load(dir string, patterns []string) (any, error) {
	pkgs, err := o.list(dir, patterns)
	if err != nil {
		return nil, err
	}
	var targets []map[string]any
	for _, p := range pkgs {
		if p.DepOnly || p.ForTest != "" || strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		o.targets[p.ImportPath] = true
		msg := ""
		if p.Error != nil {
			msg = p.Error.Err
		}
		targets = append(targets, map[string]any{"import_path": p.ImportPath, "dir": p.Dir, "error": msg})
	}
	return targets, nil
}

func (o *oracle) list(dir string, patterns []string) ([]*listed, error) {
	args := append([]string{"list", "-e", "-export", "-deps", "-test", "-json=ImportPath,Name,Dir,Export,ForTest,GoFiles,CgoFiles,TestGoFiles,XTestGoFiles,Imports,ImportMap,DepOnly,Standard,Module,Error", "--"}, patterns...)
	cmd := exec.Command(o.goCmd, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil && len(stdout) == 0 {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	var pkgs []*listed
	for {
		p := new(listed)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if old, ok := o.byPath[p.ImportPath]; ok && !p.DepOnly {
			old.DepOnly = false
		}
		if _, ok := o.byPath[p.ImportPath]; !ok {
			o.byPath[p.ImportPath] = p
		}
		pkgs = append(pkgs, o.byPath[p.ImportPath])
	}
	return pkgs, nil
}

// lookup opens the export data of an already mapped import path.
func (o *oracle) lookup(path string) (io.ReadCloser, error) {
	p, ok := o.byPath[path]
	if !ok || p.Export == "" {
		return nil, fmt.Errorf("no export data for %s", path)
	}
	return os.Open(p.Export)
}

// mappedImporter reads export data through one package's ImportMap, with a package map of its
// own: a test variant's dependencies and the plain ones must never share one.
type mappedImporter struct {
	own *listed
	imp types.ImporterFrom
}

func (m mappedImporter) Import(path string) (*types.Package, error) {
	return m.ImportFrom(path, "", 0)
}

func (m mappedImporter) ImportFrom(path, dir string, mode types.ImportMode) (*types.Package, error) {
	if mapped, ok := m.own.ImportMap[path]; ok {
		path = mapped
	}
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	return m.imp.ImportFrom(path, dir, mode)
}

// unitOf finds, and type-checks on first use, the package variant that holds a file: the
// in-package test variant when the package has one, so test files are seen too.
func (o *oracle) unitOf(file string) (*unit, error) {
	if key, ok := o.byFile[file]; ok {
		return o.check(key)
	}
	var best *listed
	for _, p := range o.byPath {
		if p.DepOnly && !o.targets[strings.SplitN(p.ImportPath, " ", 2)[0]] && !o.targets[p.ForTest] {
			continue
		}
		for _, name := range append(append([]string{}, p.GoFiles...), p.CgoFiles...) {
			if filepath.Join(p.Dir, name) != file {
				continue
			}
			// Prefer the variant that also holds the package's own tests.
			if best == nil || (p.ForTest != "" && !strings.HasSuffix(p.Name, "_test") && best.ForTest == "") {
				best = p
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%s is in no loaded package", file)
	}
	return o.check(best.ImportPath)
}

func (o *oracle) check(key string) (*unit, error) {
	if u, ok := o.units[key]; ok {
		return u, nil
	}
	p := o.byPath[key]
	u := &unit{list: p, path: strings.SplitN(key, " ", 2)[0], index: map[string]map[[2]int]ast.Node{}}
	o.units[key] = u
	for _, name := range append(append([]string{}, p.GoFiles...), p.CgoFiles...) {
		file := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(o.fset, file, source(file), parser.ParseComments|parser.SkipObjectResolution)
		if f == nil {
			return nil, err
		}
		u.files = append(u.files, f)
		o.byFile[file] = key
	}
	u.info = &types.Info{
		Types:      map[ast.Expr]types.TypeAndValue{},
		Defs:       map[*ast.Ident]types.Object{},
		Uses:       map[*ast.Ident]types.Object{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
		Implicits:  map[ast.Node]types.Object{},
		Instances:  map[*ast.Ident]types.Instance{},
	}
	var first error
	conf := types.Config{
		Importer:    mappedImporter{p, importer.ForCompiler(o.fset, "gc", o.lookup).(types.ImporterFrom)},
		Sizes:       o.sizes,
		FakeImportC: len(p.CgoFiles) > 0,
		Error: func(err error) {
			if first == nil {
				first = err
			}
		},
	}
	pkgPath := u.path
	if strings.HasSuffix(p.Name, "_test") && !strings.HasSuffix(pkgPath, "_test") {
		pkgPath += "_test"
	}
	u.pkg, _ = conf.Check(pkgPath, o.fset, u.files, u.info)
	u.err = first
	return u, nil
}

// lookupName is the object a name denotes at an offset of a file (the innermost scope's answer), or nil.
func (o *oracle) lookupName(file string, offset int, name string) (any, error) {
	u, err := o.unitOf(file)
	if err != nil {
		return nil, err
	}
	for _, f := range u.files {
		tf := o.fset.File(f.Pos())
		if tf.Name() != file || offset > tf.Size() {
			continue
		}
		pos := tf.Pos(offset)
		scope := u.pkg.Scope().Innermost(pos)
		if scope == nil {
			return nil, nil
		}
		if _, obj := scope.LookupParent(name, pos); obj != nil {
			return o.describeObject(u, obj), nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%s is not in its package", file)
}

// node is the syntax node spanning exactly [start, end) of a file, innermost first.
func (o *oracle) node(file string, start, end int) (ast.Node, *unit, error) {
	u, err := o.unitOf(file)
	if err != nil {
		return nil, nil, err
	}
	idx, ok := u.index[file]
	if !ok {
		idx = map[[2]int]ast.Node{}
		for _, f := range u.files {
			if o.fset.File(f.Pos()).Name() != file {
				continue
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					return false
				}
				k := [2]int{o.fset.PositionFor(n.Pos(), false).Offset, o.fset.PositionFor(n.End(), false).Offset}
				if _, isExpr := n.(ast.Expr); isExpr || idx[k] == nil {
					idx[k] = n // the innermost expression of a span wins: `(x)` keeps x's own span
				}
				return true
			})
		}
		u.index[file] = idx
	}
	n, ok := idx[[2]int{start, end}]
	if !ok {
		return nil, u, fmt.Errorf("no syntax node at %s:%d-%d", filepath.Base(file), start, end)
	}
	return n, u, nil
}

// exprType describes the type of an expression and, for a constant, its value.
func (o *oracle) exprType(u *unit, e ast.Expr) any {
	tv, ok := u.info.Types[e]
	if !ok {
		if id, isIdent := e.(*ast.Ident); isIdent {
			if obj := u.info.ObjectOf(id); obj != nil && obj.Type() != types.Typ[types.Invalid] {
				return o.describe(u, obj.Type(), nil)
			}
		}
		return nil // a package name, a label, or no expression the checker recorded
	}
	if tv.Type == nil || tv.Type == types.Typ[types.Invalid] {
		return map[string]any{"invalid": true, "cgo": usesC(e)}
	}
	d := o.describe(u, tv.Type, tv.Value)
	if tv.IsType() {
		d["is_type"] = true
	}
	return d
}

func usesC(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && id.Name == "C" {
				found = true
			}
		}
		return !found
	})
	return found
}

var (
	byteSlice = types.NewSlice(types.Typ[types.Byte])
	errorType = types.Universe.Lookup("error").Type() // the named type: results must be `error` itself
	ifaces    = map[string]*types.Interface{
		"error":           errorType.Underlying().(*types.Interface),
		"fmt.Stringer":    iface("String", nil, types.Typ[types.String]),
		"fmt.GoStringer":  iface("GoString", nil, types.Typ[types.String]),
		"io.Writer":       iface("Write", byteSlice, types.Typ[types.Int], errorType),
		"io.StringWriter": iface("WriteString", types.Typ[types.String], types.Typ[types.Int], errorType),
		"io.ByteWriter":   iface("WriteByte", types.Typ[types.Byte], errorType),
	}
)

// iface builds a one-method interface: Name(param) (results...).
func iface(name string, param types.Type, results ...types.Type) *types.Interface {
	var params []*types.Var
	if param != nil {
		params = append(params, types.NewParam(token.NoPos, nil, "", param))
	}
	var res []*types.Var
	for _, r := range results {
		res = append(res, types.NewParam(token.NoPos, nil, "", r))
	}
	sig := types.NewSignatureType(nil, nil, nil, types.NewTuple(params...), types.NewTuple(res...), false)
	i := types.NewInterfaceType([]*types.Func{types.NewFunc(token.NoPos, nil, name, sig)}, nil)
	i.Complete()
	return i
}

func methodNames(t types.Type) []string {
	ms := types.NewMethodSet(t)
	names := []string{}
	for i := 0; i < ms.Len(); i++ {
		names = append(names, ms.At(i).Obj().Name())
	}
	return names
}

func kindOf(t types.Type) string {
	switch t.Underlying().(type) {
	case *types.Basic:
		return "basic"
	case *types.Slice:
		return "slice"
	case *types.Array:
		return "array"
	case *types.Map:
		return "map"
	case *types.Pointer:
		return "pointer"
	case *types.Struct:
		return "struct"
	case *types.Interface:
		return "interface"
	case *types.Signature:
		return "func"
	case *types.Chan:
		return "chan"
	case *types.Tuple:
		return "tuple"
	}
	return "other"
}

// describe is a type as goescape's codemods read it; depth-limited through elem and key.
func (o *oracle) describe(u *unit, t types.Type, value any) map[string]any {
	qual := types.RelativeTo(u.pkg)
	d := map[string]any{
		"type":       types.TypeString(t, qual),
		"underlying": types.TypeString(t.Underlying(), qual),
		"kind":       kindOf(t),
	}
	switch t := types.Unalias(t).(type) {
	case *types.Named:
		d["named"] = true
		if obj := t.Obj(); obj.Pkg() != nil {
			d["pkg"] = obj.Pkg().Path()
		}
	case *types.TypeParam:
		d["named"] = true
		d["type_param"] = true
		d["kind"] = "typeparam"
	}
	if b, ok := t.Underlying().(*types.Basic); ok {
		d["basic"] = types.Typ[b.Kind()].Name() // byte is uint8, rune is int32
		info := b.Info()
		d["integer"] = info&types.IsInteger != 0
		d["unsigned"] = info&types.IsUnsigned != 0
		d["float"] = info&types.IsFloat != 0
		d["string"] = info&types.IsString != 0
		d["boolean"] = info&types.IsBoolean != 0
		d["untyped"] = info&types.IsUntyped != 0
	}
	if _, isTP := t.(*types.TypeParam); !isTP && d["untyped"] != true && !isTuple(t) {
		if size, align, ok := o.sizeOf(t); ok {
			d["size"], d["align"] = size, align
		}
		d["methods"] = methodNames(t)
		if _, isPtr := t.Underlying().(*types.Pointer); !isPtr && !types.IsInterface(t) {
			d["pointer_methods"] = methodNames(types.NewPointer(t))
		}
		impl := []string{}
		for name, i := range ifaces {
			if types.Implements(t, i) {
				impl = append(impl, name)
			}
		}
		if hasMethod(t, "Format") {
			impl = append(impl, "fmt.Formatter")
		}
		sort.Strings(impl)
		d["implements"] = impl
	}
	switch ut := t.Underlying().(type) {
	case *types.Slice:
		d["elem"] = o.describeShallow(u, ut.Elem())
	case *types.Array:
		d["elem"] = o.describeShallow(u, ut.Elem())
		d["len"] = ut.Len()
	case *types.Pointer:
		d["elem"] = o.describeShallow(u, ut.Elem())
	case *types.Chan:
		d["elem"] = o.describeShallow(u, ut.Elem())
	case *types.Map:
		d["elem"] = o.describeShallow(u, ut.Elem())
		d["key"] = o.describeShallow(u, ut.Key())
	case *types.Struct:
		var fields []map[string]any
		for i := 0; i < ut.NumFields(); i++ {
			f := ut.Field(i)
			fields = append(fields, map[string]any{"name": f.Name(), "type": types.TypeString(f.Type(), qual), "embedded": f.Embedded()})
		}
		d["fields"] = fields
	case *types.Tuple:
		var items []any
		for i := 0; i < ut.Len(); i++ {
			items = append(items, o.describeShallow(u, ut.At(i).Type()))
		}
		d["items"] = items
	}
	if value != nil {
		if cv, ok := value.(interface{ ExactString() string }); ok {
			d["constant"] = cv.ExactString()
			if s, ok := constantString(value); ok {
				d["ascii"] = isASCII(s)
			}
		}
	}
	return d
}

// sizeOf is a type's size and alignment for the target; none for a type that depends on a type
// parameter, whose size go/types cannot give (it asserts).
func (o *oracle) sizeOf(t types.Type) (size, align int64, ok bool) {
	defer func() {
		if recover() != nil {
			size, align, ok = 0, 0, false
		}
	}()
	return o.sizes.Sizeof(t), o.sizes.Alignof(t), true
}

func isTuple(t types.Type) bool {
	_, ok := t.(*types.Tuple)
	return ok
}

func (o *oracle) describeShallow(u *unit, t types.Type) map[string]any {
	d := o.describe(u, t, nil)
	delete(d, "elem")
	delete(d, "key")
	delete(d, "fields")
	return d
}

func hasMethod(t types.Type, name string) bool {
	ms := types.NewMethodSet(t)
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Obj().Name() == name {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// constantString is a string constant's bytes (not its quoted form: "\xff" quotes as ASCII text).
func constantString(value any) (string, bool) {
	cv, ok := value.(constant.Value)
	if !ok || cv.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(cv), true
}

// key names an object the same way in every package that sees it: the package path and name for
// package-level objects, the receiver type for methods and fields, the declaring position otherwise.
func (o *oracle) key(obj types.Object) string {
	if obj == nil {
		return ""
	}
	pkg := ""
	if obj.Pkg() != nil {
		pkg = obj.Pkg().Path()
	}
	switch obj := obj.(type) {
	case *types.Func:
		if sig, ok := obj.Type().(*types.Signature); ok && sig.Recv() != nil {
			return pkg + "." + recvName(sig.Recv().Type()) + "." + obj.Name()
		}
	case *types.Var:
		if obj.IsField() {
			// Export data moves positions, so a field is named by package, name and type: two fields
			// that share all three are one key, which makes identity checks more careful, not less.
			return "field " + pkg + "." + obj.Name() + " " + types.TypeString(obj.Type(), nil)
		}
	}
	if obj.Pkg() != nil && obj.Parent() == obj.Pkg().Scope() {
		return pkg + "." + obj.Name()
	}
	pos := o.fset.PositionFor(obj.Pos(), false)
	return fmt.Sprintf("local %s:%d", pos.Filename, pos.Offset)
}

func recvName(t types.Type) string {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Obj().Name()
	}
	return types.TypeString(t, nil)
}

func (o *oracle) describeObject(u *unit, obj types.Object) map[string]any {
	pos := o.fset.PositionFor(obj.Pos(), false)
	kind := strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", obj), "*types."))
	if v, ok := obj.(*types.Var); ok && v.IsField() {
		kind = "field"
	}
	d := map[string]any{
		"key":           o.key(obj),
		"name":          obj.Name(),
		"kind":          kind,
		"exported":      obj.Exported(),
		"file":          pos.Filename,
		"offset":        pos.Offset,
		"line":          pos.Line,
		"package_level": obj.Pkg() != nil && obj.Parent() == obj.Pkg().Scope(),
		"universe":      obj.Parent() == types.Universe,
	}
	if obj.Pkg() != nil {
		d["pkg"] = obj.Pkg().Path()
	}
	if _, isPkg := obj.(*types.PkgName); !isPkg && obj.Type() != nil {
		d["type"] = o.describe(u, obj.Type(), nil)
	}
	if pn, ok := obj.(*types.PkgName); ok {
		d["imported"] = pn.Imported().Path()
	}
	return d
}

// moduleUnits type-checks every package of the module that holds `file` (tests included), listing
// the module on first use; for the standard library only what was loaded is searched.
func (o *oracle) moduleUnits(file string) []*unit {
	home, err := o.unitOf(file)
	if err == nil && home.list.Module != nil && home.list.Module.Dir != "" && !o.modules[home.list.Module.Dir] {
		o.modules[home.list.Module.Dir] = true
		if pkgs, err := o.list(home.list.Module.Dir, []string{"./..."}); err == nil {
			for _, p := range pkgs {
				if !p.DepOnly && p.ForTest == "" && !strings.HasSuffix(p.ImportPath, ".test") {
					o.targets[p.ImportPath] = true
				}
			}
		}
	}
	var keys []string
	for key, p := range o.byPath {
		base := strings.SplitN(key, " ", 2)[0]
		if strings.HasSuffix(key, ".test") || (!o.targets[base] && !o.targets[p.ForTest]) {
			continue
		}
		if i := strings.Index(key, " ["); i >= 0 {
			binary := strings.TrimSuffix(key[i+2:len(key)-1], ".test")
			if binary != base && base != binary+"_test" {
				continue // a dependency recompiled for another package's tests: its files are checked once, as its own
			}
		}
		if p.ForTest == "" {
			if _, hasTest := o.byPath[key+" ["+key+".test]"]; hasTest {
				continue // its test variant holds the same files and the tests
			}
		}
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var units []*unit
	for _, key := range keys {
		if u, err := o.check(key); err == nil {
			units = append(units, u)
		}
	}
	return units
}

type use struct {
	File  string `json:"file"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	Line  int    `json:"line"`
	Text  string `json:"text"`
	Why   string `json:"why,omitempty"`
}

// sortUses orders uses by file, then offset: the order every op answers in.
func sortUses(out []use) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Start < out[j].Start
	})
}

// sortedUses is the uses found, deduplicated by their key, in sortUses' order (never nil: JSON []).
func sortedUses(found map[string]use) []use {
	out := make([]use, 0, len(found))
	for _, u := range found {
		out = append(out, u)
	}
	sortUses(out)
	return out
}

func (o *oracle) useOf(n ast.Node, text string) use {
	s, e := o.fset.PositionFor(n.Pos(), false), o.fset.PositionFor(n.End(), false)
	return use{File: s.Filename, Start: s.Offset, End: e.Offset, Line: s.Line, Text: text}
}

// uses is every identifier in the module's packages (or the loaded ones) that refers to the object.
// The identifiers are indexed by their object's key once per set of units, not searched per call:
// a codemod asks for hundreds of objects in one package.
func (o *oracle) uses(key, file string) (any, error) {
	units := o.moduleUnits(file)
	var sig strings.Builder
	for _, u := range units {
		fmt.Fprintf(&sig, "%p ", u)
	}
	if o.usesBy == nil || o.usesSig != sig.String() {
		o.usesSig, o.usesBy = sig.String(), map[string][]use{}
		for _, u := range units {
			for id, obj := range u.info.Uses {
				k := o.key(obj)
				o.usesBy[k] = append(o.usesBy[k], o.useOf(id, id.Name))
			}
		}
		for _, found := range o.usesBy {
			sortUses(found)
		}
	}
	out := o.usesBy[key]
	if out == nil {
		out = []use{}
	}
	return out, nil
}

// identity follows a value (the results of every call of a function, or one expression) through
// variables, fields, parameters of the module's own functions and return statements, and reports
// each place where two such values could be told apart by identity: `==` or `!=` against anything
// but nil, a constant or a package-level value, a map key, a switch case, errors.Is against a value
// that is not package-level. Where the value goes out of sight (a function outside the module, a
// slice or channel, a closure's result, its address taken) that place is reported too: nothing
// then proves identity unused. A package that does not type-check is reported as such.
func (o *oracle) identity(key, file string, start ast.Expr) (any, error) {
	units := o.moduleUnits(file)
	parents, decls := o.syntaxIndex(units)
	found := map[string]use{}
	seen := map[string]bool{}
	var follow func(key string)
	var track func(u *unit, e ast.Expr, index int)
	report := func(n ast.Node, why string) {
		u := o.useOf(n, nodeText(o.fset, n))
		u.Why = why
		found[fmt.Sprintf("%s:%d", u.File, u.Start)] = u
	}
	for _, u := range units {
		if u.err != nil && len(u.files) > 0 {
			report(u.files[0].Name, "go/types reports an error in "+u.path+", so uses there may be missing: "+u.err.Error())
		}
	}
	isStatic := func(u *unit, e ast.Expr) bool {
		e = ast.Unparen(e)
		if tv, ok := u.info.Types[e]; ok && (tv.IsNil() || tv.Value != nil) {
			return true
		}
		var id *ast.Ident
		switch e := e.(type) {
		case *ast.Ident:
			id = e
		case *ast.SelectorExpr:
			id = e.Sel
		}
		if id == nil {
			return false
		}
		obj := u.info.ObjectOf(id)
		if obj == nil || obj.Pkg() == nil {
			return obj != nil
		}
		_, isVar := obj.(*types.Var)
		_, isConst := obj.(*types.Const)
		return (isVar || isConst) && obj.Parent() == obj.Pkg().Scope()
	}
	trackObject := func(obj types.Object) {
		k := o.key(obj)
		if k == "" || seen["obj "+k] {
			return
		}
		seen["obj "+k] = true
		for _, u := range units {
			for id, used := range u.info.Uses {
				if o.key(used) == k {
					track(u, id, 0)
				}
			}
		}
	}
	isMap := func(u *unit, e ast.Expr) bool {
		if tv, ok := u.info.Types[e]; ok && tv.Type != nil {
			_, m := tv.Type.Underlying().(*types.Map)
			return m
		}
		return false
	}
	track = func(u *unit, e ast.Expr, index int) {
		var child ast.Node = e
		parent := parents[child]
		for {
			if p, ok := parent.(*ast.ParenExpr); ok {
				child, parent = p, parents[p]
				continue
			}
			if p, ok := parent.(*ast.SelectorExpr); ok && p.Sel == child {
				child, parent = p, parents[p] // a field or a qualified name: the whole selector is the value
				continue
			}
			break
		}
		switch p := parent.(type) {
		case *ast.BinaryExpr:
			if (p.Op == token.EQL || p.Op == token.NEQ) && index == 0 {
				other := p.X
				if other == child {
					other = p.Y
				}
				if !isStatic(u, other) {
					report(p, "compared with "+p.Op.String())
				}
			}
		case *ast.IndexExpr:
			if p.Index == child && isMap(u, p.X) {
				report(p, "a map key")
			}
		case *ast.KeyValueExpr:
			lit, _ := parents[p].(*ast.CompositeLit)
			if lit == nil {
				return
			}
			if p.Key == child && isMap(u, lit) {
				report(p, "a map key")
			} else if p.Value == child {
				if field, ok := p.Key.(*ast.Ident); ok && !isMap(u, lit) {
					if obj := u.info.ObjectOf(field); obj != nil {
						if v, isVar := obj.(*types.Var); isVar && v.IsField() {
							trackObject(obj)
							return
						}
					}
				}
				report(p, "stored in a map, slice or array literal, where identity is not followed")
			}
		case *ast.CompositeLit:
			report(p, "stored in a composite literal, where identity is not followed")
		case *ast.CaseClause:
			if body, ok := parents[p].(*ast.BlockStmt); ok {
				if sw, ok := parents[body].(*ast.SwitchStmt); ok && sw.Tag != nil && !isStatic(u, sw.Tag) {
					report(p, "a switch case")
				}
			}
		case *ast.SwitchStmt:
			if p.Tag == child {
				for _, stmt := range p.Body.List {
					for _, c := range stmt.(*ast.CaseClause).List {
						if !isStatic(u, c) {
							report(stmt, "a switch case")
						}
					}
				}
			}
		case *ast.UnaryExpr:
			if p.Op == token.AND {
				report(p, "its address is taken, where identity is not followed")
			}
		case *ast.SendStmt:
			if p.Value == child {
				report(p, "sent on a channel, where identity is not followed")
			}
		case *ast.CallExpr:
			if p.Fun == child {
				return
			}
			argIndex := -1
			for i, a := range p.Args {
				if a == child {
					argIndex = i
				}
			}
			if tv, ok := u.info.Types[p.Fun]; ok && tv.IsType() {
				track(u, p, 0) // a conversion keeps the value
				return
			}
			fn := calleeName(u, p)
			switch {
			case fn == "errors.Is":
				for _, a := range p.Args {
					if a != child && !isStatic(u, a) {
						report(p, "errors.Is against a value that is not package-level")
					}
				}
				return
			case fn == "delete" && argIndex == 1:
				report(p, "a map key")
				return
			case fn == "append":
				report(p, "appended to a slice, where identity is not followed")
				return
			case fn == "errors.As" || fn == "len" || fn == "panic" || fn == "print" || fn == "println":
				return
			}
			callee := calleeObject(u, p)
			if callee == nil {
				report(p, "passed to a function value, where identity is not followed")
				return
			}
			if decl, ok := decls[o.key(callee)]; ok && argIndex >= 0 {
				params := paramIdents(decl.decl.Type.Params)
				if len(params) > 0 {
					i := argIndex
					if i >= len(params) {
						i = len(params) - 1
					}
					if params[i] != nil {
						trackObject(decl.unit.info.Defs[params[i]])
					}
				}
				return
			}
			if fnc, ok := callee.(*types.Func); ok {
				if sig, _ := fnc.Type().(*types.Signature); sig != nil && sig.Recv() != nil && types.IsInterface(sig.Recv().Type()) {
					report(p, "passed to the interface method "+fnc.Name()+", whose implementations are not followed")
					return
				}
			}
			if callee.Pkg() != nil && !strings.Contains(strings.SplitN(callee.Pkg().Path(), "/", 2)[0], ".") {
				return // the standard library keeps no identity of an argument it formats or logs
			}
			report(p, "passed to "+callee.Name()+", outside the module, where identity is not followed")
		case *ast.ReturnStmt:
			for n := parents[p]; n != nil; n = parents[n] {
				if _, lit := n.(*ast.FuncLit); lit {
					report(p, "returned from a closure, whose callers are not followed")
					return
				}
				if fd, ok := n.(*ast.FuncDecl); ok {
					if obj := u.info.Defs[fd.Name]; obj != nil {
						follow(o.key(obj))
					}
					return
				}
			}
		case *ast.AssignStmt:
			for i, r := range p.Rhs {
				if r != child {
					continue
				}
				target := i
				if len(p.Rhs) == 1 && len(p.Lhs) > 1 {
					target = index
				}
				if target < len(p.Lhs) {
					trackTarget(u, p.Lhs[target], trackObject, func(n ast.Node) {
						report(n, "stored in a map or slice element or through a pointer, where identity is not followed")
					})
				}
			}
		case *ast.ValueSpec:
			for i, r := range p.Values {
				if r != child {
					continue
				}
				target := i
				if len(p.Values) == 1 && len(p.Names) > 1 {
					target = index
				}
				if target < len(p.Names) {
					trackTarget(u, p.Names[target], trackObject, nil)
				}
			}
		}
	}
	follow = func(key string) {
		if seen[key] {
			return
		}
		seen[key] = true
		// A method may also be called through any interface that has a method of its name:
		// those calls are followed too, which can only add places, never hide one.
		method := ""
		if fd, ok := decls[key]; ok && fd.decl.Recv != nil {
			method = fd.decl.Name.Name
		}
		for _, u := range units {
			for id, obj := range u.info.Uses {
				viaInterface := false
				if fn, ok := obj.(*types.Func); ok && method != "" && fn.Name() == method {
					sig, _ := fn.Type().(*types.Signature)
					viaInterface = sig != nil && sig.Recv() != nil && types.IsInterface(sig.Recv().Type())
				}
				if o.key(obj) != key && !viaInterface {
					continue
				}
				var call ast.Node = id
				if sel, ok := parents[id].(*ast.SelectorExpr); ok && sel.Sel == id {
					call = sel
				}
				c, ok := parents[call].(*ast.CallExpr)
				if !ok || c.Fun != call {
					report(call, "the function is used as a value, whose calls are not followed")
					continue
				}
				sig, _ := obj.Type().(*types.Signature)
				if sig == nil {
					continue
				}
				for i := 0; i < sig.Results().Len(); i++ {
					if types.IsInterface(sig.Results().At(i).Type()) {
						track(u, c, i)
					}
				}
			}
		}
	}
	switch {
	case start != nil:
		if u, err := o.unitOf(file); err == nil {
			if id, ok := start.(*ast.Ident); ok && u.info.Defs[id] != nil {
				trackObject(u.info.Defs[id]) // a declared name: every use of it
			} else {
				track(u, start, 0)
			}
		}
	default:
		follow(key)
	}
	return sortedUses(found), nil
}

type funcDecl struct {
	unit *unit
	decl *ast.FuncDecl
}

// syntaxIndex is every node's parent and every declared function by key, for a set of units;
// built once and reused while the set does not change.
func (o *oracle) syntaxIndex(units []*unit) (map[ast.Node]ast.Node, map[string]funcDecl) {
	if o.parents != nil && o.indexed == len(units) {
		return o.parents, o.decls
	}
	parents := map[ast.Node]ast.Node{}
	decls := map[string]funcDecl{}
	for _, u := range units {
		for _, f := range u.files {
			var stack []ast.Node
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return false
				}
				if len(stack) > 0 {
					parents[n] = stack[len(stack)-1]
				}
				if fd, ok := n.(*ast.FuncDecl); ok && fd.Body != nil {
					if obj := u.info.Defs[fd.Name]; obj != nil {
						decls[o.key(obj)] = funcDecl{u, fd}
					}
				}
				stack = append(stack, n)
				return true
			})
		}
	}
	o.parents, o.decls, o.indexed = parents, decls, len(units)
	return parents, decls
}

// paramIdents lists a signature's parameter names in order (nil for an unnamed or blank one).
func paramIdents(fields *ast.FieldList) []*ast.Ident {
	var out []*ast.Ident
	for _, f := range fields.List {
		if len(f.Names) == 0 {
			out = append(out, nil)
		}
		for _, n := range f.Names {
			if n.Name == "_" {
				out = append(out, nil)
			} else {
				out = append(out, n)
			}
		}
	}
	return out
}

// trackTarget follows a value stored in a variable or a field to every use of that variable or
// field; a store into an element or through a pointer goes to `lost` (when given).
func trackTarget(u *unit, lhs ast.Expr, trackObject func(types.Object), lost func(ast.Node)) {
	var id *ast.Ident
	switch l := ast.Unparen(lhs).(type) {
	case *ast.Ident:
		id = l
	case *ast.SelectorExpr:
		id = l.Sel
	default:
		if lost != nil {
			lost(lhs)
		}
		return
	}
	if id == nil || id.Name == "_" {
		return
	}
	if obj := u.info.ObjectOf(id); obj != nil {
		trackObject(obj)
	}
}

func calleeObject(u *unit, c *ast.CallExpr) types.Object {
	var id *ast.Ident
	switch f := ast.Unparen(c.Fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.IndexExpr: // an explicit instantiation F[T](x)
		switch g := f.X.(type) {
		case *ast.Ident:
			id = g
		case *ast.SelectorExpr:
			id = g.Sel
		}
	}
	if id == nil {
		return nil
	}
	obj := u.info.Uses[id]
	if fn, ok := obj.(*types.Func); ok {
		return fn.Origin()
	}
	if _, ok := obj.(*types.Builtin); ok {
		return obj
	}
	return nil
}

// calleeName is the called function as `errors.Is`, or a builtin's own name (`delete`); "" for a function value.
func calleeName(u *unit, c *ast.CallExpr) string {
	obj := calleeObject(u, c)
	switch {
	case obj == nil:
		return ""
	case obj.Pkg() == nil:
		return obj.Name()
	}
	return obj.Pkg().Path() + "." + obj.Name()
}

func nodeText(fset *token.FileSet, n ast.Node) string {
	s, e := fset.PositionFor(n.Pos(), false), fset.PositionFor(n.End(), false)
	data, err := readSource(s.Filename)
	if err != nil || e.Offset > len(data) {
		return ""
	}
	text := strings.Join(strings.Fields(string(data[s.Offset:e.Offset])), " ")
	if len(text) > 80 {
		text = text[:77] + "..."
	}
	return text
}

// names is every name declared at package level, and every import name, in every Go file of a
// directory, whatever its build constraints: what a new package-level name must not collide with.
func names(fset *token.FileSet, dir string) (any, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), source(filepath.Join(dir, e.Name())), parser.SkipObjectResolution)
		if f == nil {
			return nil, err
		}
		for _, imp := range f.Imports {
			if imp.Name != nil {
				set[imp.Name.Name] = true
			} else {
				path := strings.Trim(imp.Path.Value, "\"`")
				set[path[strings.LastIndex(path, "/")+1:]] = true
			}
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					set[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						set[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							set[n.Name] = true
						}
					}
				}
			}
		}
	}
	out := []string{}
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// targets chooses the fewest platforms whose builds together compile every .go file of dirs (tests
// included): the host first, then greedily the platform compiling most files not yet compiled (ties
// go to the earlier platform). Whether a platform compiles a file is go/build's own answer
// (Context.MatchFile: file name suffixes, //go:build lines, unix, release and tool tags), and a file
// importing "C" needs cgo, which only the host has (hostCgo): other platforms are built with
// CGO_ENABLED=0. No package is loaded.
func targets(dirs []string, platforms [][2]string, host [2]string, hostCgo bool) (any, error) {
	var files []string
	cgo := map[string]bool{} // file → it imports "C"
	fset := token.NewFileSet()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			files = append(files, path)
			// A file that does not parse is still matched by name and constraints; the build reports it.
			if f, _ := parser.ParseFile(fset, path, source(path), parser.ImportsOnly); f != nil {
				for _, imp := range f.Imports {
					if imp.Path.Value == `"C"` {
						cgo[path] = true
					}
				}
			}
		}
	}
	compiles := func(p [2]string) (map[string]bool, error) {
		ctxt := build.Default
		ctxt.GOOS, ctxt.GOARCH = p[0], p[1]
		ctxt.CgoEnabled = p == host && hostCgo
		// Tool tags name GOEXPERIMENTs and this binary's architecture levels (amd64.v1, ...); another
		// architecture's levels are unknown here, so its files constrained by them match nothing.
		ctxt.ToolTags = nil
		for _, tag := range build.Default.ToolTags {
			if arch, _, _ := strings.Cut(tag, "."); arch != runtime.GOARCH || p[1] == runtime.GOARCH {
				ctxt.ToolTags = append(ctxt.ToolTags, tag)
			}
		}
		set := map[string]bool{}
		for _, f := range files {
			ok, err := ctxt.MatchFile(filepath.Dir(f), filepath.Base(f))
			if err != nil {
				return nil, err
			}
			if ok && (ctxt.CgoEnabled || !cgo[f]) {
				set[f] = true
			}
		}
		return set, nil
	}
	var candidates []map[string]bool
	for _, p := range platforms {
		set, err := compiles(p)
		if err != nil {
			return nil, err
		}
		candidates = append(candidates, set)
	}
	covered := map[string]bool{}
	var chosen []map[string]any
	pick := func(p [2]string, set map[string]bool) {
		adds := []string{}
		for _, f := range files {
			if set[f] && !covered[f] {
				adds = append(adds, f)
				covered[f] = true
			}
		}
		chosen = append(chosen, map[string]any{"goos": p[0], "goarch": p[1], "cgo": p == host && hostCgo, "adds": adds})
	}
	hostSet, err := compiles(host)
	if err != nil {
		return nil, err
	}
	pick(host, hostSet)
	for {
		best, most := -1, 0
		for i, set := range candidates {
			n := 0
			for f := range set {
				if !covered[f] {
					n++
				}
			}
			if n > most {
				best, most = i, n
			}
		}
		if best < 0 {
			break
		}
		pick(platforms[best], candidates[best])
	}
	never := []string{}
	for _, f := range files {
		if !covered[f] {
			never = append(never, f)
		}
	}
	return map[string]any{"targets": chosen, "never": never}, nil
}

// layout describes the struct type whose name spans [start, end) of a file: its fields with their
// sizes, alignments and offsets for the target GOARCH, and an order that leaves no padding between
// fields (zero-sized fields first, then by alignment, descending; stable, so fields of equal
// alignment keep their order) with the size it gives. With observe, also every place in the module
// that could tell the field order (see observers) and the first exported declaration of the package
// that reaches the type: a walk of the whole module, asked for only once the size says it pays.
func (o *oracle) layout(file string, start, end int, observe bool) (any, error) {
	n, u, err := o.node(file, start, end)
	if err != nil {
		return nil, err
	}
	var tn *types.TypeName
	if id, ok := n.(*ast.Ident); ok {
		tn, _ = u.info.Defs[id].(*types.TypeName)
	}
	if tn == nil || tn.IsAlias() {
		return nil, errors.New("not the name of a defined type")
	}
	named, _ := tn.Type().(*types.Named)
	st, _ := tn.Type().Underlying().(*types.Struct)
	if named == nil || st == nil {
		return nil, fmt.Errorf("%s is not a struct type", tn.Name())
	}
	if named.TypeParams().Len() > 0 {
		return nil, fmt.Errorf("%s is generic: its layout depends on its type arguments", tn.Name())
	}
	qual := types.RelativeTo(u.pkg)
	vars := make([]*types.Var, st.NumFields())
	for i := range vars {
		vars[i] = st.Field(i)
	}
	offsets := o.sizes.Offsetsof(vars)
	fields := []map[string]any{}
	hostLayout := false
	for i, f := range vars {
		fields = append(fields, map[string]any{
			"name":     f.Name(),
			"type":     types.TypeString(f.Type(), qual),
			"embedded": f.Embedded(),
			"size":     o.sizes.Sizeof(f.Type()),
			"align":    o.sizes.Alignof(f.Type()),
			"offset":   offsets[i],
		})
		if fn, ok := types.Unalias(f.Type()).(*types.Named); ok && fn.Obj().Pkg() != nil {
			hostLayout = hostLayout || (fn.Obj().Pkg().Path() == "structs" && fn.Obj().Name() == "HostLayout")
		}
	}
	order := make([]int, len(vars))
	for i := range order {
		order[i] = i
	}
	rank := func(i int) int64 {
		if o.sizes.Sizeof(vars[i].Type()) == 0 {
			return 1 << 62 // a zero-sized field last would be padded to keep &t.f inside the object
		}
		return o.sizes.Alignof(vars[i].Type())
	}
	sort.SliceStable(order, func(a, b int) bool { return rank(order[a]) > rank(order[b]) })
	moved, tags := make([]*types.Var, len(order)), make([]string, len(order))
	for i, k := range order {
		moved[i], tags[i] = vars[k], st.Tag(k)
	}
	d := map[string]any{
		"type":           tn.Name(),
		"goarch":         o.arch,
		"size":           o.sizes.Sizeof(named),
		"align":          o.sizes.Alignof(named),
		"word":           o.sizes.Sizeof(types.Typ[types.UnsafePointer]),
		"pointers":       hasPointers(st),
		"fields":         fields,
		"order":          order,
		"reordered_size": o.sizes.Sizeof(types.NewStruct(moved, tags)),
		"host_layout":    hostLayout,
		"cgo":            append([]string{}, u.list.CgoFiles...),
	}
	if !observe {
		return d, nil
	}
	home := o.key(tn)
	isT := func(t types.Type) bool {
		nt, ok := types.Unalias(t).(*types.Named)
		return ok && o.key(nt.Origin().Obj()) == home
	}
	d["observed"], d["api"] = o.observers(file, isT, holdsInterface(st)), map[string]any{}
	if name, typ := o.apiReach(u, tn, reacher(isT, false)); name != "" {
		d["api"] = map[string]any{"name": name, "type": typ}
	}
	return d, nil
}

// reacher answers whether a value of a type holds a value of the struct type isT names, where
// reflection could find it: through fields, array and slice elements, map keys and values,
// channel elements and pointers; byValue stops at pointers, slices, maps and channels (what `==`
// and map hashing walk through). Each answer is kept: types are shared across expressions.
func reacher(isT func(types.Type) bool, byValue bool) func(types.Type) bool {
	memo := map[types.Type]bool{}
	var walk func(t types.Type, seen map[types.Type]bool) bool
	walk = func(t types.Type, seen map[types.Type]bool) bool {
		if t == nil {
			return false
		}
		t = types.Unalias(t)
		if isT(t) {
			return true
		}
		if seen[t] {
			return false
		}
		seen[t] = true
		switch t := t.Underlying().(type) {
		case *types.Pointer:
			return !byValue && walk(t.Elem(), seen)
		case *types.Slice:
			return !byValue && walk(t.Elem(), seen)
		case *types.Chan:
			return !byValue && walk(t.Elem(), seen)
		case *types.Map:
			return !byValue && (walk(t.Key(), seen) || walk(t.Elem(), seen))
		case *types.Array:
			return walk(t.Elem(), seen)
		case *types.Struct:
			for i := 0; i < t.NumFields(); i++ {
				if walk(t.Field(i).Type(), seen) {
					return true
				}
			}
		case *types.Tuple:
			for i := 0; i < t.Len(); i++ {
				if walk(t.At(i).Type(), seen) {
					return true
				}
			}
		}
		return false
	}
	return func(t types.Type) bool {
		if t == nil {
			return false
		}
		if found, ok := memo[t]; ok {
			return found
		}
		memo[t] = walk(t, map[types.Type]bool{})
		return memo[t]
	}
}

// holdsInterface reports whether a struct holds an interface by value (in a field, an array
// element or a nested struct): comparing two of them compares those interfaces in field order.
func holdsInterface(st *types.Struct) bool {
	var walk func(t types.Type) bool
	walk = func(t types.Type) bool {
		switch t := t.Underlying().(type) {
		case *types.Interface:
			return true
		case *types.Array:
			return walk(t.Elem())
		case *types.Struct:
			for i := 0; i < t.NumFields(); i++ {
				if walk(t.Field(i).Type()) {
					return true
				}
			}
		}
		return false
	}
	return walk(st)
}

// hasPointers reports whether the garbage collector scans a value of the type (the allocator
// then never packs it with others in a tiny block, and adds a header to large ones).
func hasPointers(t types.Type) bool {
	switch t := t.Underlying().(type) {
	case *types.Basic:
		return t.Kind() == types.String || t.Kind() == types.UnsafePointer
	case *types.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			if hasPointers(t.Field(i).Type()) {
				return true
			}
		}
		return false
	}
	return true
}

// apiReach names the first exported declaration of the package (outside its test files) whose
// type reaches the struct type tn: an importer could then hold, print or encode one.
func (o *oracle) apiReach(u *unit, tn *types.TypeName, reach func(types.Type) bool) (string, string) {
	qual := types.RelativeTo(u.pkg)
	sigReach := func(t types.Type) bool {
		if sig, ok := t.(*types.Signature); ok {
			return reach(sig.Params()) || reach(sig.Results())
		}
		return reach(t)
	}
	for _, name := range u.pkg.Scope().Names() {
		obj := u.pkg.Scope().Lookup(name)
		if !obj.Exported() || obj == tn || strings.HasSuffix(o.fset.PositionFor(obj.Pos(), false).Filename, "_test.go") {
			continue
		}
		switch obj := obj.(type) {
		case *types.Func, *types.Var:
			if sigReach(obj.Type()) {
				return obj.Name(), types.TypeString(obj.Type(), qual)
			}
		case *types.TypeName:
			if iface, ok := obj.Type().Underlying().(*types.Interface); ok {
				for i := 0; i < iface.NumMethods(); i++ {
					if m := iface.Method(i); m.Exported() && sigReach(m.Type()) {
						return obj.Name() + "." + m.Name(), types.TypeString(m.Type(), qual)
					}
				}
			} else if reach(obj.Type().Underlying()) {
				return obj.Name(), types.TypeString(obj.Type().Underlying(), qual)
			}
			if nt, ok := obj.Type().(*types.Named); ok {
				for i := 0; i < nt.NumMethods(); i++ {
					if m := nt.Method(i); m.Exported() && sigReach(m.Type()) {
						return obj.Name() + "." + m.Name(), types.TypeString(m.Type(), qual)
					}
				}
			}
		}
	}
	return "", ""
}

// genericSafe are standard packages whose generic code never converts its type arguments to an
// interface: instantiating them with a struct cannot print, encode or reflect on its fields.
var genericSafe = map[string]bool{
	"slices": true, "maps": true, "cmp": true, "iter": true, "sync": true, "sync/atomic": true,
	"container/heap": true, "container/list": true, "container/ring": true, "weak": true,
}

// observers lists every place in the module (tests included) that could tell the field order of
// the struct type isT names: an unkeyed literal of it; a value holding it converted to an
// interface (fmt's %v, encoding/json, encoding/binary and reflect read fields in order) or to
// unsafe.Pointer; a conversion between it and another struct type; unsafe.Offsetof or Sizeof on
// it; a raw 64-bit sync/atomic call on one of its fields (aligned on 32-bit platforms only by its
// place); generic code instantiated with it, outside the packages of genericSafe; and, when it
// holds an interface (ifaces), a comparison or map key of it: which field is compared first
// decides whether an uncomparable dynamic value panics.
func (o *oracle) observers(file string, isT func(types.Type) bool, ifaces bool) []use {
	reach, byValue := reacher(isT, false), reacher(isT, true)
	found := map[string]use{}
	report := func(n ast.Node, why string) {
		u := o.useOf(n, nodeText(o.fset, n))
		u.Why = why
		found[fmt.Sprintf("%s:%d", u.File, u.Start)] = u
	}
	for _, u := range o.moduleUnits(file) {
		if u.err != nil && len(u.files) > 0 {
			report(u.files[0].Name, "go/types reports an error in "+u.path+", so uses there may be missing: "+u.err.Error())
		}
		qual := types.RelativeTo(u.pkg)
		typeOf := func(e ast.Expr) types.Type {
			if tv, ok := u.info.Types[e]; ok {
				return tv.Type
			}
			if id, ok := e.(*ast.Ident); ok && u.info.ObjectOf(id) != nil {
				return u.info.ObjectOf(id).Type()
			}
			return nil
		}
		text := func(t types.Type) string { return types.TypeString(t, qual) }
		toIface := func(target, from types.Type, at ast.Node, how string) {
			if target == nil || from == nil || !types.IsInterface(target) || types.IsInterface(from) || !reach(from) {
				return
			}
			if _, param := target.(*types.TypeParam); param {
				return
			}
			report(at, fmt.Sprintf("%s becomes %s %s, and reflection (fmt's %%v, encoding/json) reads its fields in order", text(from), text(target), how))
		}
		under := func(t types.Type) types.Type {
			if t == nil {
				return types.Typ[types.Invalid]
			}
			return t.Underlying()
		}
		// values are the types of expressions that are assigned, passed or returned: a single call
		// with several results gives each of them.
		values := func(rhs []ast.Expr) []types.Type {
			if len(rhs) == 1 {
				if tuple, ok := typeOf(rhs[0]).(*types.Tuple); ok {
					out := make([]types.Type, tuple.Len())
					for i := range out {
						out[i] = tuple.At(i).Type()
					}
					return out
				}
			}
			out := make([]types.Type, len(rhs))
			for i, e := range rhs {
				out[i] = typeOf(e)
			}
			return out
		}
		at := func(list []ast.Expr, i int) ast.Node { return list[min(i, len(list)-1)] }
		// inT is whether e is a field (or array element) of a value of the type, by selectors and indexing.
		inT := func(e ast.Expr) bool {
			for {
				switch x := ast.Unparen(e).(type) {
				case *ast.SelectorExpr:
					sel := u.info.Selections[x]
					if sel == nil || sel.Kind() != types.FieldVal {
						return false
					}
					recv := sel.Recv()
					if p, ok := recv.Underlying().(*types.Pointer); ok {
						recv = p.Elem()
					}
					if isT(recv) {
						return true
					}
					e = x.X
				case *ast.IndexExpr:
					if _, ok := under(typeOf(x.X)).(*types.Array); !ok {
						return false
					}
					e = x.X
				default:
					return false
				}
			}
		}
		for id, inst := range u.info.Instances {
			obj := u.info.ObjectOf(id)
			if obj != nil && obj.Pkg() != nil && genericSafe[obj.Pkg().Path()] && !ifaces {
				continue
			}
			for i := 0; i < inst.TypeArgs.Len(); i++ {
				if arg := inst.TypeArgs.At(i); reach(arg) {
					report(id, fmt.Sprintf("instantiates %s with %s, and generic code may convert it to an interface", id.Name, text(arg)))
				}
			}
		}
		for _, f := range u.files {
			var stack []ast.Node
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return false
				}
				stack = append(stack, n)
				switch n := n.(type) {
				case *ast.CallExpr:
					tv := u.info.Types[n.Fun]
					if tv.IsType() && len(n.Args) == 1 {
						from, to := typeOf(n.Args[0]), tv.Type
						if from == nil || to == nil {
							return true
						}
						toIface(to, from, n, "by conversion")
						if b, ok := under(to).(*types.Basic); ok && b.Kind() == types.UnsafePointer && reach(from) {
							report(n, text(from)+" becomes unsafe.Pointer, through which its fields are read by offset")
						}
						a, b := deref(from), deref(to)
						_, sa := under(a).(*types.Struct)
						_, sb := under(b).(*types.Struct)
						if sa && sb && isT(a) != isT(b) {
							report(n, "converts between "+text(a)+" and "+text(b)+", which needs the same fields in the same order")
						}
						return true
					}
					switch name := calleeName(u, n); {
					case name == "unsafe.Offsetof" && len(n.Args) == 1 && inT(n.Args[0]):
						report(n, "unsafe.Offsetof reads a field's offset")
					case name == "unsafe.Sizeof" && len(n.Args) == 1 && byValue(typeOf(n.Args[0])):
						report(n, "unsafe.Sizeof reads its size, which the reordering changes")
					case strings.HasPrefix(name, "sync/atomic."):
						for _, arg := range n.Args {
							if x, ok := ast.Unparen(arg).(*ast.UnaryExpr); ok && x.Op == token.AND && inT(x.X) {
								if b, ok := under(typeOf(x.X)).(*types.Basic); ok && (b.Kind() == types.Int64 || b.Kind() == types.Uint64) {
									report(n, name+" on a raw 64-bit field, which 32-bit platforms align to 8 bytes only by its place in the struct")
								}
							}
						}
					}
					sig, _ := under(tv.Type).(*types.Signature)
					if sig == nil || len(n.Args) == 0 {
						return true
					}
					args := values(n.Args)
					how := "as an argument"
					if callee := calleeName(u, n); callee != "" {
						how = "passed to " + callee
					}
					for i, from := range args {
						var param types.Type
						last := sig.Params().Len() - 1
						switch {
						case sig.Variadic() && i >= last && n.Ellipsis.IsValid():
							param = sig.Params().At(last).Type()
						case sig.Variadic() && i >= last:
							if s, ok := sig.Params().At(last).Type().Underlying().(*types.Slice); ok {
								param = s.Elem()
							}
						case i <= last:
							param = sig.Params().At(i).Type()
						}
						toIface(param, from, at(n.Args, i), how)
					}
					if ifaces && calleeName(u, n) == "delete" && len(n.Args) == 2 && byValue(typeOf(n.Args[1])) {
						report(n, "a map key of it is hashed and compared field by field in order")
					}
				case *ast.AssignStmt:
					if n.Tok == token.ASSIGN || n.Tok == token.DEFINE {
						for i, from := range values(n.Rhs) {
							if i < len(n.Lhs) {
								toIface(typeOf(n.Lhs[i]), from, at(n.Rhs, i), "by assignment")
							}
						}
					}
				case *ast.ValueSpec:
					if n.Type != nil && len(n.Values) > 0 {
						for i, from := range values(n.Values) {
							toIface(typeOf(n.Type), from, at(n.Values, i), "by declaration")
						}
					}
				case *ast.ReturnStmt:
					var sig *types.Signature
					for i := len(stack) - 2; i >= 0 && sig == nil; i-- {
						switch fn := stack[i].(type) {
						case *ast.FuncDecl:
							if obj := u.info.Defs[fn.Name]; obj != nil {
								sig, _ = obj.Type().(*types.Signature)
							}
						case *ast.FuncLit:
							sig, _ = typeOf(fn).(*types.Signature)
						}
					}
					if sig != nil && len(n.Results) > 0 {
						for i, from := range values(n.Results) {
							if i < sig.Results().Len() {
								toIface(sig.Results().At(i).Type(), from, at(n.Results, i), "by a return")
							}
						}
					}
				case *ast.CompositeLit:
					lit := deref(typeOf(n))
					if lit == nil {
						return true
					}
					if isT(lit) && len(n.Elts) > 0 {
						if _, keyed := n.Elts[0].(*ast.KeyValueExpr); !keyed {
							report(n, "an unkeyed literal lists its values in field order")
						}
					}
					for i, elt := range n.Elts {
						key, value := ast.Expr(nil), elt
						if kv, ok := elt.(*ast.KeyValueExpr); ok {
							key, value = kv.Key, kv.Value
						}
						switch lt := lit.Underlying().(type) {
						case *types.Struct:
							if id, ok := key.(*ast.Ident); ok && u.info.ObjectOf(id) != nil {
								toIface(u.info.ObjectOf(id).Type(), typeOf(value), value, "in a struct literal")
							} else if key == nil && i < lt.NumFields() {
								toIface(lt.Field(i).Type(), typeOf(value), value, "in a struct literal")
							}
						case *types.Slice:
							toIface(lt.Elem(), typeOf(value), value, "in a slice literal")
						case *types.Array:
							toIface(lt.Elem(), typeOf(value), value, "in an array literal")
						case *types.Map:
							toIface(lt.Elem(), typeOf(value), value, "in a map literal")
							if key != nil {
								toIface(lt.Key(), typeOf(key), key, "as a map key")
								if ifaces && byValue(typeOf(key)) {
									report(key, "a map key of it is hashed and compared field by field in order")
								}
							}
						}
					}
				case *ast.RangeStmt:
					if n.Tok != token.ASSIGN {
						return true
					}
					var key, value types.Type
					switch x := under(deref(typeOf(n.X))).(type) {
					case *types.Slice:
						value = x.Elem()
					case *types.Array:
						value = x.Elem()
					case *types.Map:
						key, value = x.Key(), x.Elem()
					case *types.Chan:
						key = x.Elem()
					}
					if n.Key != nil {
						toIface(typeOf(n.Key), key, n.Key, "by a range assignment")
					}
					if n.Value != nil {
						toIface(typeOf(n.Value), value, n.Value, "by a range assignment")
					}
				case *ast.SendStmt:
					if ch, ok := under(typeOf(n.Chan)).(*types.Chan); ok {
						toIface(ch.Elem(), typeOf(n.Value), n.Value, "sent on a channel")
					}
				case *ast.IndexExpr:
					if m, ok := under(typeOf(n.X)).(*types.Map); ok {
						toIface(m.Key(), typeOf(n.Index), n.Index, "as a map key")
						if ifaces && byValue(m.Key()) {
							report(n, "a map key of it is hashed and compared field by field in order")
						}
					}
				case *ast.BinaryExpr:
					if ifaces && (n.Op == token.EQL || n.Op == token.NEQ) && (byValue(typeOf(n.X)) || byValue(typeOf(n.Y))) {
						report(n, "== compares its fields in order, and on an uncomparable value in an interface field the first one compared panics")
					}
				case *ast.SwitchStmt:
					if ifaces && n.Tag != nil && byValue(typeOf(n.Tag)) {
						report(n, "a switch compares its fields in order, and on an uncomparable value in an interface field the first one compared panics")
					}
				}
				return true
			})
		}
	}
	return sortedUses(found)
}

// deref is the type a pointer points to, or the type itself.
func deref(t types.Type) types.Type {
	if t == nil {
		return nil
	}
	if p, ok := t.Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}
