// UDP header fields (RFC 768) the offload code reads and rewrites.
/** Length of header plus data, in bytes. */
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;
