export {
  BadEscapeError,
  FieldCountError,
  FieldValueError,
  FrameTooLargeError,
  MalformedFrameError,
  ProtocolError,
  UnexpectedBytesError,
  UnexpectedMessageError,
  UnknownKindError,
} from '../errors.js';
export * from './codec.js';
export * from './framer.js';
export * from './messages.js';
export * from './topics.js';
