package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gomerge/gomerge/tokenizer"
)

// stdin is where tokenize reads its text; tests replace it.
var stdin io.Reader = os.Stdin

const tokenizeUsage = `usage: gomerge tokenize --tokenizer DIR [--no-special] [--json-strings] < text

Reads text from stdin, one input per line, and prints one JSON array of
token ids per line. DIR holds tokenizer.json (or tokenizer.json.gz, or a
SentencePiece tokenizer.model). The tokenizer's post-processor adds its
special tokens (such as BOS) unless --no-special. Lines end at \n; a \r
before it is dropped. With --json-strings every line is a JSON string, so
inputs can hold newlines.

examples:
  echo "Grüße aus München" | gomerge tokenize --tokenizer ./model
  gomerge tokenize --tokenizer ./model --no-special --json-strings < lines.jsonl
`

// runTokenize is `gomerge tokenize`.
func runTokenize(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs, stderr, tokenizeUsage)
	dir := fs.String("tokenizer", "", "tokenizer directory")
	noSpecial := fs.Bool("no-special", false, "do not add the post-processor's special tokens")
	jsonStrings := fs.Bool("json-strings", false, "each input line is a JSON string")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, tokenizeUsage)
		return exitUsage
	}
	tk, err := tokenizer.Load(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge tokenize:", err)
		return exitFailed
	}
	in := bufio.NewReaderSize(stdin, 1<<16)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var buf []byte
	for lineNo := 1; ; lineNo++ {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			if err == io.EOF {
				break
			}
			fmt.Fprintln(stderr, "gomerge tokenize: read stdin:", err)
			return exitFailed
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		if *jsonStrings {
			var s string
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				fmt.Fprintf(stderr, "gomerge tokenize: stdin line %d: not a JSON string: %v\n", lineNo, err)
				return exitFailed
			}
			line = s
		}
		buf = appendIDs(buf[:0], tk.Encode(line, !*noSpecial))
		if _, err := out.Write(buf); err != nil {
			fmt.Fprintln(stderr, "gomerge tokenize: write:", err)
			return exitFailed
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(stderr, "gomerge tokenize: write:", err)
		return exitFailed
	}
	return exitOK
}

// appendIDs appends ids as a JSON array and a newline.
func appendIDs(b []byte, ids []int) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return append(b, ']', '\n')
}
