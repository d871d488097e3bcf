package exposition

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
)

// A gzip response is one gzip member whose deflate stream is spliced from
// segments. Each segment is the output of a fresh deflate writer that was
// flushed but not closed: a byte-aligned run of non-final blocks that
// refers to nothing before it, so segments can follow one another in any
// order. A Renderer's segments are compressed once and reused by every
// gzip scrape while it is served (cache.go); only the small rest (the
// gathered families) is compressed per scrape. The trailer's CRC-32 is
// combined from the segments' own. Why one member and not one per
// segment: see the package comment.

// segment is compressed text with the CRC-32 and length of the text.
type segment struct {
	data []byte
	crc  uint32
	size int64
}

// gzipLevel trades size for CPU: the cached segments are compressed once
// per generation, but the per-scrape rest and a huge tier's first gzip
// scrape after a poll pay for it. Exposition text shrinks about tenfold
// even so.
const gzipLevel = flate.BestSpeed

// flateWriters keeps a few deflate writers for good. Each holds about
// 1 MiB of tables; a sync.Pool drops them at every garbage collection, and
// at 20 gzip scrapes a second their reallocation was most of the
// exporter's swings in memory.
var flateWriters = make(chan *flate.Writer, 4)

func getFlate(w io.Writer) *flate.Writer {
	select {
	case fw := <-flateWriters:
		fw.Reset(w)
		return fw
	default:
		fw, _ := flate.NewWriter(w, gzipLevel) // the level is valid
		return fw
	}
}

func putFlate(fw *flate.Writer) {
	fw.Reset(io.Discard) // drop the reference to the output
	select {
	case flateWriters <- fw:
	default:
	}
}

// compress renders text through a fresh deflate writer into a segment
// kept by the caller. sizeHint, the expected compressed size, spares the
// output its doublings, most of the garbage a view's compression made.
func compress(sizeHint int, render func(w *Writer)) segment {
	var out bytes.Buffer
	out.Grow(sizeHint)
	s := compressInto(&out, render)
	if cap(s.data) > len(s.data)+len(s.data)/4 {
		s.data = bytes.Clone(s.data) // do not keep much unused room
	}
	return s
}

// bytesPerSample estimates the compressed size of one sample line: the
// text is about 110 bytes and deflate's fastest level keeps about 1/10.
const bytesPerSample = 12

// compressInto renders text through a fresh deflate writer into out; the
// segment's data is out's bytes.
func compressInto(out *bytes.Buffer, render func(w *Writer)) segment {
	fw := getFlate(out)
	defer putFlate(fw)
	cw := &crcWriter{w: fw, crc: crc32.NewIEEE()}
	w := newWriter(cw)
	render(w)
	w.flush()
	w.release()
	// Writes into a bytes.Buffer cannot fail.
	_ = fw.Flush()
	return segment{data: out.Bytes(), crc: cw.crc.Sum32(), size: cw.n}
}

// liveBufs hold the per-scrape compressed rest until it is written.
var liveBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type crcWriter struct {
	w   io.Writer
	crc interface {
		io.Writer
		Sum32() uint32
	}
	n int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc.Write(p)
	c.n += int64(len(p))
	return c.w.Write(p)
}

// gzipHeader is a gzip member header: deflate, no name, no time, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// finalBlock is an empty final deflate block (fixed Huffman codes).
var finalBlock = []byte{0x03, 0x00}

// writeSpliced writes segs to w as one gzip member.
func writeSpliced(w io.Writer, segs []*segment) error {
	var crc uint32
	var size int64
	if _, err := w.Write(gzipHeader); err != nil {
		return err
	}
	for _, s := range segs {
		if _, err := w.Write(s.data); err != nil {
			return err
		}
		crc = crc32Combine(crc, s.crc, s.size)
		size += s.size
	}
	var trailer [10]byte
	copy(trailer[:], finalBlock)
	binary.LittleEndian.PutUint32(trailer[2:], crc)
	binary.LittleEndian.PutUint32(trailer[6:], uint32(size))
	_, err := w.Write(trailer[:])
	return err
}

// crc32Combine is the CRC-32 (IEEE) of a+b from crcA = CRC(a), crcB =
// CRC(b) and len(b), as zlib's crc32_combine computes it: crcA is moved
// past len(b) zero bytes by multiplying with x^(8·len(b)) modulo the
// polynomial, then crcB is added.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	return multModP(xPow8n(uint64(lenB)), crcA) ^ crcB
}

// multModP multiplies a and b modulo the reflected CRC-32 polynomial.
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// x2n[k] is x^(2^k) modulo the polynomial.
var x2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()

// xPow8n is x^(8n) modulo the polynomial.
func xPow8n(n uint64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = multModP(x2n[k&31], p)
		}
	}
	return p
}
