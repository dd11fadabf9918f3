// A leaf module, so that the settings can show the default without loading the server.

/** End-of-turn and padding tokens of common chat templates (Qwen, Llama 2/3, Mistral, Gemma, Phi). */
export const DEFAULT_END_TOKENS: readonly string[] = [
  '<|im_end|>',
  '<|endoftext|>',
  '<|eot_id|>',
  '<|end_of_text|>',
  '</s>',
  '<end_of_turn>',
  '<eos>',
  '<pad>',
  '<|end|>',
];
