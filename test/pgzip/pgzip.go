// Compresses stdin with klauspost/pgzip or klauspost/compress/flate, the encoders of umoci,
// skopeo and containers/image, for the tests that check layerdiff's reproduction of them.
// It builds in GOPATH mode against Debian's packages of both (golang-github-klauspost-pgzip-dev,
// golang-github-klauspost-compress-dev), the versions Debian's umoci and skopeo are built with.
//
//	pgzip raw|gzip LEVEL WRITE_SIZE [BLOCK_SIZE]
//
// Input is handed to the writer in WRITE_SIZE pieces. raw is one flate stream (Write, then
// Close); gzip output has a fixed mtime and, when given, pgzip blocks of BLOCK_SIZE (as umoci
// sets 256 KiB with SetConcurrency).
package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/pgzip"
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
		var z *pgzip.Writer
		z, err = pgzip.NewWriterLevel(out, level)
		if err == nil {
			z.ModTime = time.Unix(1700000000, 0)
			if len(os.Args) > 4 {
				var blockSize int
				blockSize, err = strconv.Atoi(os.Args[4])
				check(err)
				err = z.SetConcurrency(blockSize, 2)
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
