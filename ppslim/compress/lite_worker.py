"""Run a Paddle Lite ``.nb`` on images from a ``.npy`` file; runs in its own process.

``python -m ppslim.compress.lite_worker MODEL.nb IMAGES.npy LOGITS.npy [BATCH]``. Kept free of paddle and
ppslim imports: if Lite crashes natively, only this process dies and the caller reports it.
"""
import sys

import numpy as np


def main(nb_path: str, images_path: str, out_path: str, batch: int = 64) -> None:
    from paddlelite.lite import MobileConfig, create_paddle_predictor

    config = MobileConfig()
    config.set_model_from_file(nb_path)
    predictor = create_paddle_predictor(config)
    images = np.load(images_path)
    outputs = []
    for start in range(0, len(images), batch):
        predictor.get_input(0).from_numpy(np.ascontiguousarray(images[start:start + batch], dtype="float32"))
        predictor.run()
        outputs.append(np.array(predictor.get_output(0).numpy()))
    np.save(out_path, np.concatenate(outputs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:5]))
