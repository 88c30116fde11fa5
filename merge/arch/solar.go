package arch

func init() {
	// Solar Pro (remote code): the Llama layout; some checkpoints store the
	// output layer as model.lm_head.weight.
	solar := llamaLike("solar", "solar", "SolarForCausalLM")
	solar.Post = []Weight{
		{Name: "model.norm.weight"},
		{Name: "lm_head.weight", IsEmbed: true, Aliases: []string{"model.lm_head.weight"}},
	}
	Register(solar)
}
