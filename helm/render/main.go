// Command render renders a Helm chart the way `helm template` does, for machines without helm:
// Go text/template with the sprig functions, plus the functions and built-in objects Helm adds.
//
// Build it in GOPATH mode against Debian's packages (golang-go,
// golang-github-masterminds-sprig-dev), no module proxy needed:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./helm/render
//
// Usage:
//
//	render --chart helm/kessai [-f values.yaml]... [--name R] [--namespace NS]
//	       [--kube-version 1.30.0] [--api-versions group/version]... [--is-upgrade]
//	       [--values-out merged.json] [--notes-out notes.txt]
//
// It prints every rendered manifest as one multi-document YAML stream ("---" and a
// "# Source:" comment before each document, as helm does), skipping empty documents, partials
// (templates/_*) and NOTES.txt. Like Helm it merges values.yaml with the -f files (later files
// win, null deletes a default), turns every number into a float64 (as Helm's YAML → JSON
// loading does), renders with missingkey=zero and replaces "<no value>" with "", checks the
// chart's kubeVersion constraint, and reports `required`/`fail` errors as
// "execution error at (template:line:col): message". Values are not checked against
// values.schema.json here: --values-out writes the merged values as JSON for a schema validator.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// KubeVersion mirrors Helm's .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string { return k.Version }

// GitVersion is Helm's deprecated alias of Version.
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet mirrors Helm's .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether the group/version (or group/version/Kind) is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities mirrors Helm's .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// Files mirrors the parts of Helm's .Files that read files.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f Files) Lines(name string) []string {
	s := strings.TrimRight(string(f[name]), "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// Built-in API versions of a Kubernetes 1.30+ cluster, as Helm's default capabilities list them.
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1",
	"autoscaling/v2", "batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1",
	"discovery.k8s.io/v1", "events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1",
	"networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
	"scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var valueFiles, apiVersions multiFlag
	chartDir := flag.String("chart", "", "chart directory (required)")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.30.0", "Kubernetes version for .Capabilities")
	isUpgrade := flag.Bool("is-upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	valuesOut := flag.String("values-out", "", "write the merged values here as JSON")
	notesOut := flag.String("notes-out", "", "write the rendered NOTES.txt here")
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&valueFiles, "values", "same as -f")
	flag.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("--chart is required and no positional arguments are accepted")
	}

	chartMeta, err := loadYAMLMap(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		return fmt.Errorf("Chart.yaml: %w", err)
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[chartField(k)] = v
	}
	if chart["APIVersion"] != "v2" {
		return fmt.Errorf("Chart.yaml: apiVersion must be v2, got %v", chart["APIVersion"])
	}

	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		return fmt.Errorf("--kube-version: %w", err)
	}
	if c, ok := chart["KubeVersion"].(string); ok && c != "" {
		constraint, err := semver.NewConstraint(c)
		if err != nil {
			return fmt.Errorf("Chart.yaml kubeVersion: %w", err)
		}
		if !constraint.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s", c, kv)
		}
	}

	defaults, err := loadYAMLMap(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		return fmt.Errorf("values.yaml: %w", err)
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		m, err := loadYAMLMap(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		user = mergeMaps(user, m)
	}
	values := coalesce(user, defaults)
	if *valuesOut != "" {
		b, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*valuesOut, b, 0o644); err != nil {
			return err
		}
	}

	chartName, _ := chart["Name"].(string)
	if chartName == "" {
		return errors.New("Chart.yaml: name is required")
	}
	files, templates, err := readChartFiles(*chartDir, chartName)
	if err != nil {
		return err
	}

	caps := Capabilities{
		KubeVersion: KubeVersion{
			Version: "v" + kv.String(),
			Major:   fmt.Sprint(kv.Major()),
			Minor:   fmt.Sprint(kv.Minor()),
		},
		APIVersions: append(VersionSet(append([]string{}, defaultAPIVersions...)), apiVersions...),
		HelmVersion: map[string]string{"Version": "v3-compatible-render"},
	}
	release := map[string]interface{}{
		"Name":      *name,
		"Namespace": *namespace,
		"Service":   "Helm",
		"IsInstall": !*isUpgrade,
		"IsUpgrade": *isUpgrade,
		"Revision":  map[bool]int{false: 1, true: 2}[*isUpgrade],
	}

	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t))
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(templates[n]); err != nil {
			return fmt.Errorf("parse error in %q: %w", n, err)
		}
	}

	basePath := chartName + "/templates"
	var out bytes.Buffer
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{
			"Values":       values,
			"Release":      release,
			"Chart":        chart,
			"Capabilities": caps,
			"Files":        files,
			"Template":     map[string]interface{}{"Name": n, "BasePath": basePath},
		}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return cleanupExecError(n, err)
		}
		rendered := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			if *notesOut != "" {
				if err := os.WriteFile(*notesOut, []byte(rendered), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		for _, doc := range splitManifests(rendered) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, doc)
		}
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

// chartField maps a Chart.yaml key to the field name Helm's .Chart exposes.
func chartField(k string) string {
	switch k {
	case "apiVersion":
		return "APIVersion"
	case "appVersion":
		return "AppVersion"
	case "kubeVersion":
		return "KubeVersion"
	}
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}

// readChartFiles returns the chart's files for .Files (paths relative to the chart, templates
// excluded, as in Helm) and its templates keyed "<chart>/templates/<path>".
func readChartFiles(chartDir, chartName string) (Files, map[string]string, error) {
	files := Files{}
	templates := map[string]string{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(chartDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[chartName+"/"+rel] = string(data)
		} else if rel != "Chart.yaml" && rel != "values.yaml" && rel != "values.schema.json" {
			files[rel] = data
		}
		return nil
	})
	return files, templates, err
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits a rendered template into its YAML documents, as Helm does, dropping
// documents with nothing but whitespace.
func splitManifests(s string) []string {
	var docs []string
	for _, d := range docSeparator.Split(s, -1) {
		if strings.TrimSpace(d) == "" {
			continue
		}
		docs = append(docs, strings.TrimRight(strings.TrimLeft(d, "\n"), " \t\n"))
	}
	return docs
}

var execErrorRE = regexp.MustCompile(`^template: (.*?): executing ".*?" at <.*?>: error calling (?:fail|required): ([\s\S]*)$`)

// cleanupExecError turns `required` and `fail` errors into Helm's short form.
func cleanupExecError(name string, err error) error {
	if m := execErrorRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], m[2])
	}
	return fmt.Errorf("rendering %s: %w", name, err)
}

const recursionMax = 1000

func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the machine's environment.
	delete(f, "env")
	delete(f, "expandenv")

	included := map[string]int{}
	extra := template.FuncMap{
		"toYaml": func(v interface{}) string {
			s, err := toYAML(v)
			if err != nil {
				return ""
			}
			return s
		},
		"mustToYaml": toYAML,
		"toYamlPretty": func(v interface{}) string {
			s, err := toYAML(v)
			if err != nil {
				return ""
			}
			return s
		},
		"fromYaml": func(s string) map[string]interface{} {
			m, err := yamlToMap([]byte(s))
			if err != nil {
				return map[string]interface{}{"Error": err.Error()}
			}
			return m
		},
		"fromYamlArray": func(s string) []interface{} {
			var a []interface{}
			if err := yamlToJSONValue([]byte(s), &a); err != nil {
				return []interface{}{err.Error()}
			}
			return a
		},
		"toJson": func(v interface{}) string {
			b, err := json.Marshal(v)
			if err != nil {
				return ""
			}
			return string(b)
		},
		"mustToJson": func(v interface{}) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"fromJson": func(s string) map[string]interface{} {
			m := map[string]interface{}{}
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"fromJsonArray": func(s string) []interface{} {
			var a []interface{}
			if err := json.Unmarshal([]byte(s), &a); err != nil {
				return []interface{}{err.Error()}
			}
			return a
		},
		"toToml": func(interface{}) (string, error) {
			return "", errors.New("toToml is not supported by this renderer")
		},
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > recursionMax {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, data interface{}) (string, error) {
			c, err := t.Clone()
			if err != nil {
				return "", err
			}
			c.Option("missingkey=zero")
			if _, err := c.New("tpl").Parse(text); err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := c.ExecuteTemplate(&buf, "tpl", data); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(msg string, v interface{}) (interface{}, error) {
			if v == nil {
				return v, errors.New(msg)
			}
			if s, ok := v.(string); ok && s == "" {
				return v, errors.New(msg)
			}
			return v, nil
		},
		"fail": func(msg string) (string, error) { return "", errors.New(msg) },
		// No cluster here: lookup finds nothing, as with `helm template`.
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// toYAML marshals like Helm's toYaml (sigs.k8s.io/yaml): through JSON, so keys are sorted and
// numbers print plainly, without the trailing newline.
func toYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return "", err
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// loadYAMLMap reads a YAML file the way Helm loads values: YAML → JSON → Go values.
func loadYAMLMap(file string) (map[string]interface{}, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return yamlToMap(b)
}

func yamlToMap(b []byte) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	if err := yamlToJSONValue(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

func yamlToJSONValue(b []byte, out interface{}) error {
	var raw interface{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return err
	}
	j, err := json.Marshal(jsonable(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(j, out)
}

// jsonable turns yaml.v2's map[interface{}]interface{} into JSON-encodable maps.
func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = jsonable(val)
		}
		return m
	case []interface{}:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	default:
		return v
	}
}

// mergeMaps merges b into a (values files given later win), recursing into maps.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]interface{}); ok {
			if am, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce fills dst (user values) from src (chart defaults) as Helm does: missing keys come
// from the defaults, maps merge recursively, and a user null deletes the default.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		dv, ok := dst[k]
		switch {
		case !ok:
			dst[k] = sv
		case dv == nil:
			delete(dst, k)
		default:
			dm, dIsMap := dv.(map[string]interface{})
			sm, sIsMap := sv.(map[string]interface{})
			if dIsMap && sIsMap {
				dst[k] = coalesce(dm, sm)
			} else if dIsMap != sIsMap && sv != nil {
				fmt.Fprintf(os.Stderr, "warning: value %q: cannot overwrite a table with a non-table (or the reverse); keeping the user value\n", k)
			}
		}
	}
	return dst
}
