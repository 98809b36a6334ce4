/**
 * The guest's console: UART bytes collected and handed on in chunks (a line, or 64 KiB), because
 * one write per byte is slow. Where a chunk goes is the caller's business (the CLI's stdout, the
 * library's 'console' event); nothing here touches process.stdout.
 *
 * Each chunk has one writer, the vCPU whose UART writes made it (`writer`, set by the machine as
 * its scheduler switches vCPUs): bytes from another vCPU end the chunk in progress, so a line two
 * vCPUs interleave their bytes in becomes several chunks, each with its own writer.
 */
export class ConsoleSink {
  private readonly buf = new Uint8Array(64 * 1024);
  private len = 0;
  /** Hand on each line as it completes (someone reads line by line), else only full buffers and at flush(). */
  lineMode = true;
  /** The vCPU running now, whose UART writes arrive (0 with one vCPU). */
  writer = 0;
  /** The vCPU that wrote the bytes held now. */
  private chunkWriter = 0;
  constructor(private readonly out: (chunk: Uint8Array, writer: number) => void) {}

  /** One transmitted byte (the PL011's TX callback: allocation-free). */
  readonly put = (byte: number): void => {
    if (this.writer !== this.chunkWriter) {
      this.flush();
      this.chunkWriter = this.writer;
    }
    this.buf[this.len++] = byte;
    if (this.len === this.buf.length || (byte === 0x0a && this.lineMode)) this.flush();
  };

  /** Bytes transmitted but not handed on yet (a line in progress): saved in a snapshot. */
  pending(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Start with bytes another run transmitted before a snapshot point (a restored run's line in progress). */
  preload(bytes: Uint8Array): void {
    this.buf.set(bytes.subarray(0, this.buf.length - 1));
    this.len = Math.min(bytes.length, this.buf.length - 1);
  }

  flush(): void {
    if (this.len === 0) return;
    const chunk = this.buf.slice(0, this.len);
    this.len = 0;
    this.out(chunk, this.chunkWriter);
  }
}
