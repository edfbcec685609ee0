// TCP header fields (RFC 9293 §3.1) the offload code reads and rewrites.
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
/** Data offset: header length in 32-bit words, high nibble. */
export const TCP_DATA_OFFSET = 12;
export const TCP_FLAGS = 13;
export const TCP_CHECKSUM = 16;
export const TCP_MIN_HEADER_LEN = 20;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK_FLAG = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export function tcpHeaderLen(b: Uint8Array, tcp: number): number {
  return (b[tcp + TCP_DATA_OFFSET] >> 4) << 2;
}
