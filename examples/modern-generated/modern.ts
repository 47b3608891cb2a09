import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type {
  EchoClient as _modern_example_EchoClient,
  EchoDefinition as _modern_example_EchoDefinition,
} from './modern/example/Echo';
import type {
  EchoReply as _modern_example_EchoReply,
  EchoReply__Output as _modern_example_EchoReply__Output,
} from './modern/example/EchoReply';
import type {
  EchoRequest as _modern_example_EchoRequest,
  EchoRequest__Output as _modern_example_EchoRequest__Output,
} from './modern/example/EchoRequest';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new (...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  modern: {
    example: {
      Echo: SubtypeConstructor<typeof grpc.Client, _modern_example_EchoClient> & {
        service: _modern_example_EchoDefinition;
      };
      EchoReply: MessageTypeDefinition<
        _modern_example_EchoReply,
        _modern_example_EchoReply__Output
      >;
      EchoRequest: MessageTypeDefinition<
        _modern_example_EchoRequest,
        _modern_example_EchoRequest__Output
      >;
    };
  };
}
