// Original file: examples/modern.proto

export interface EchoRequest {
  text?: string;
  count?: number;
}

export interface EchoRequest__Output {
  text: string;
  count: number;
}
