"""Who spoke when: CAM++ speaker embeddings of short windows over the speech (`embeddings`, on onnxruntime
with a numpy Kaldi fbank, `fbank`), clustered into speakers (`clustering`), turned into turns and laid
onto sentences and words (`turns`), and named after known reference voices (`known`).

The model (3D-Speaker's CAM++, Apache-2.0) ships in `models/` with its licence notice; no torch at run time.
"""
