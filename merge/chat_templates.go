package merge

// builtinTemplates are the chat templates a config can name in
// chat_template. They were written for gomerge to produce the same prompt
// formats as mergekit's built-ins.
var builtinTemplates = map[string]string{
	"chatml": `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`,

	"llama3": `{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}`,

	"mistral": `{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}{% set turns = messages[1:] %}` +
		`{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}` +
		`{% for message in turns %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}` +
		`{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}` +
		`{% if message['role'] == 'user' %}{% if loop.first and system %}{{ '[INST] ' + system + '\n\n' + message['content'] + ' [/INST]' }}` +
		`{% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}` +
		`{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}`,

	"alpaca": `{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}` +
		`{% elif message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}` +
		`{% elif message['role'] == 'user_context' %}{{ '### Input:\n' + message['content'] + '\n\n' }}` +
		`{% elif message['role'] == 'assistant' %}{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}{% endif %}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}`,

	"exaone": `{% if messages[0]['role'] != 'system' %}{{ '[|system|][|endofturn|]\n' }}{% endif %}` +
		`{% for message in messages %}{{ '[|' + message['role'] + '|]' + message['content'] }}` +
		`{% if message['role'] == 'user' %}{{ '\n' }}{% else %}{{ '[|endofturn|]\n' }}{% endif %}{% endfor %}` +
		`{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}`,
}
