// Compresses stdin with Go's compress/flate or compress/gzip, for the tests that check
// layerdiff's Go-compatible deflate encoder against the real thing.
//
//	goflate raw|gzip LEVEL WRITE_SIZE [NAME]
//
// Input is handed to the writer in WRITE_SIZE pieces (io.Copy uses 32768). gzip output has a
// fixed mtime and, when given, NAME as its FNAME field.
package main

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	level, err := strconv.Atoi(os.Args[2])
	check(err)
	size, err := strconv.Atoi(os.Args[3])
	check(err)
	out := bufio.NewWriter(os.Stdout)
	var w io.WriteCloser
	switch os.Args[1] {
	case "raw":
		w, err = flate.NewWriter(out, level)
	case "gzip":
		var z *gzip.Writer
		z, err = gzip.NewWriterLevel(out, level)
		if err == nil {
			z.ModTime = time.Unix(1700000000, 0)
			if len(os.Args) > 4 {
				z.Name = os.Args[4]
			}
		}
		w = z
	default:
		panic("mode must be raw or gzip")
	}
	check(err)
	in, err := io.ReadAll(os.Stdin)
	check(err)
	for len(in) > 0 {
		n := size
		if n > len(in) {
			n = len(in)
		}
		_, err = w.Write(in[:n])
		check(err)
		in = in[n:]
	}
	check(w.Close())
	check(out.Flush())
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
