// Command doclinks checks the links of the project's Markdown pages: every
// relative link must name a file or folder inside the repository, and every
// #anchor a heading of the page it points to (GitHub's heading slugs).
//
//	go run ./scripts/doclinks          the pages under the current folder
//	go run ./scripts/doclinks DIR
//
// It prints one line per broken link and exits 1 when there is one; the
// test command runs it.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	problems, pages, links, err := check(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doclinks:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "doclinks: %d broken links in %d pages\n", len(problems), pages)
		os.Exit(1)
	}
	fmt.Printf("doclinks: %d links in %d pages resolve\n", links, pages)
}

// skipped are folders that hold no pages of the project's own.
var skipped = map[string]bool{".git": true, "runs": true, "build": true, "bin": true, "node_modules": true}

// check reads every .md file under root and returns the broken links, as
// "FILE:LINE: LINK: why".
func check(root string) (problems []string, pages, links int, err error) {
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, 0, 0, err
	}
	anchors := map[string]map[string]bool{}
	headingsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := Anchors(string(data))
		anchors[path] = a
		return a, nil
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipped[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		pages++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, l := range Links(string(data)) {
			links++
			bad := func(why string) {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", rel, l.Line, l.Target, why))
			}
			target, anchor, _ := strings.Cut(l.Target, "#")
			dest := path
			if target != "" {
				dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(target))
				if r, err := filepath.Rel(root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
					bad("outside the repository")
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					bad("no such file")
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				bad("an anchor into a file that is not Markdown")
				continue
			}
			a, err := headingsOf(dest)
			if err != nil {
				return err
			}
			if !a[anchor] {
				bad("no heading #" + anchor)
			}
		}
		return nil
	})
	return problems, pages, links, err
}

// Link is a link of a page: its target and line.
type Link struct {
	Target string
	Line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^()\s]*(?:\([^()\s]*\))?[^()\s]*)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`^\s*\[[^\]]+\]:\s*(\S+)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// Links lists a page's relative links (inline and reference-style), outside
// fenced code blocks and code spans; links with a scheme (https:, mailto:)
// are not the repository's and are left out.
func Links(page string) []Link {
	var out []Link
	for i, line := range prose(page) {
		line = codeSpan.ReplaceAllString(line, "")
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			targets = append(targets, m[1])
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			targets = append(targets, m[1])
		}
		for _, t := range targets {
			t = strings.Trim(t, "<>")
			if t == "" || scheme.MatchString(t) {
				continue
			}
			out = append(out, Link{Target: t, Line: i + 1})
		}
	}
	return out
}

// prose is a page's lines by their index, with fenced code blocks (and
// their fences) blanked out: links and headings in code are not.
func prose(page string) []string {
	lines := strings.Split(page, "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		f := fenceOf(trimmed)
		switch {
		case f != "" && fence == "":
			fence = f
		case f != "" && strings.HasPrefix(trimmed, fence):
			fence = ""
		case fence == "":
			continue
		}
		lines[i] = ""
	}
	return lines
}

func fenceOf(line string) string {
	for _, f := range []string{"```", "~~~"} {
		if strings.HasPrefix(line, f) {
			return f
		}
	}
	return ""
}

// Anchors is the set of anchors a page's headings get on GitHub: each
// heading's slug, and for a repeated one slug-1, slug-2, ... Headings
// inside fenced code are not headings.
func Anchors(page string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range prose(page) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if len(line)-len(text) > 6 || (text != "" && text[0] != ' ' && text[0] != '\t') {
			continue
		}
		s := Slug(text)
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// Slug is GitHub's anchor for a heading's text: lower case, inline markup
// and punctuation dropped (letters, digits, spaces, - and _ stay), each
// space a hyphen.
func Slug(heading string) string {
	s := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(heading), "#"))
	s = htmlTag.ReplaceAllString(s, "")
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
