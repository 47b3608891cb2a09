// Original file: examples/modern.proto

export interface EchoReply {
  text?: string;
  index?: number;
}

export interface EchoReply__Output {
  text: string;
  index: number;
}
