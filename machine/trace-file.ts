/**
 * A trace file (--trace, both formats: trace.ts, trace-perfetto.ts): records gathered and written
 * in 64 KiB chunks with synchronous writes, in order, from the synchronous run loop.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ConfigError } from './errors.js';

export class TraceFile {
  private readonly fd: number;
  private buf: string[] = [];
  private size = 0;

  constructor(path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new ConfigError(`--trace ${path}: ${(e as Error).message}`);
    }
  }

  /** Text written at once, unbuffered (a header or a footer around the buffered records). */
  writeNow(text: string): void {
    writeSync(this.fd, text);
  }

  /** Text buffered, written when 64 KiB have gathered or at flush(). */
  add(text: string): void {
    this.buf.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
